/**
 * 010: what the agent rules need to be independent of cross-topic arrival
 * order (issue 8 §1, §2, §4, §8).
 * - agents.instance_at: the occurredAt of the event that set the agent's
 *   instance facts (instance, pool, mode, prices), so an older event never
 *   overwrites them; agents.former_instance_ids: the instances the agent has
 *   left (JSON array, newest last, bounded by the rules), never current again.
 * - spot_interruption_events.clock_skew_ms: the signal's occurredAt minus the
 *   service's receive time (BIGINT: a 1970 clock is -5.6e13 ms), and an index
 *   on replica_id for the failover completion update.
 * - agent_parked_events: events of an agent that has not registered yet,
 *   applied when its registration arrives.
 * - agent_locks: one row per agent id seen, locked FOR UPDATE by each batch,
 *   so parking and registration of an agent that has no agents row yet are
 *   serialised (READ COMMITTED takes no gap locks).
 *
 * Only additions to the existing tables, read from information_schema, so
 * this migration does not restate (and cannot revert) their definitions.
 */
import { type Kysely, sql } from 'kysely'
import { OPTS, convergeTable, recordVersion } from '../schema-kit.js'

const tables: Record<string, string> = {
  agent_parked_events: `CREATE TABLE \`agent_parked_events\` (
    event_id CHAR(36) NOT NULL,
    agent_id CHAR(36) NOT NULL,
    client_id CHAR(36) NOT NULL,
    type VARCHAR(64) NOT NULL,
    occurred_at DATETIME(3) NOT NULL,
    payload MEDIUMTEXT NOT NULL COMMENT 'the parsed event as JSON',
    parked_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    PRIMARY KEY (event_id),
    KEY idx_parked_agent_order (agent_id, occurred_at, event_id)
  ) ${OPTS}`,

  agent_locks: `CREATE TABLE \`agent_locks\` (
    agent_id CHAR(36) NOT NULL,
    PRIMARY KEY (agent_id)
  ) ${OPTS}`,
}

const columns: { table: string, column: string, definition: string }[] = [
  { table: 'agents', column: 'instance_at', definition: `DATETIME(3) NULL COMMENT 'occurredAt of the event that set instance, pool, mode and prices'` },
  { table: 'agents', column: 'former_instance_ids', definition: `TEXT NULL COMMENT 'JSON array of instances the agent left, newest last'` },
  { table: 'spot_interruption_events', column: 'clock_skew_ms', definition: `BIGINT NULL COMMENT 'signal occurredAt minus the service receive time'` },
]

const indexes: { table: string, name: string, definition: string }[] = [
  { table: 'spot_interruption_events', name: 'idx_interruption_replica', definition: 'KEY idx_interruption_replica (replica_id)' },
]

async function hasColumn(db: Kysely<any>, table: string, column: string): Promise<boolean> {
  const r = await sql<{ n: number }>`SELECT COUNT(*) AS n FROM information_schema.COLUMNS
    WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ${table} AND COLUMN_NAME = ${column}`.execute(db)
  return Number(r.rows[0]?.n) > 0
}

async function hasIndex(db: Kysely<any>, table: string, name: string): Promise<boolean> {
  const r = await sql<{ n: number }>`SELECT COUNT(*) AS n FROM information_schema.STATISTICS
    WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ${table} AND INDEX_NAME = ${name}`.execute(db)
  return Number(r.rows[0]?.n) > 0
}

export async function up(db: Kysely<any>): Promise<void> {
  for (const [name, ddl] of Object.entries(tables)) await convergeTable(db, name, ddl)
  for (const c of columns) {
    if (!(await hasColumn(db, c.table, c.column))) await sql.raw(`ALTER TABLE \`${c.table}\` ADD COLUMN \`${c.column}\` ${c.definition}`).execute(db)
  }
  for (const i of indexes) {
    if (!(await hasIndex(db, i.table, i.name))) await sql.raw(`ALTER TABLE \`${i.table}\` ADD ${i.definition}`).execute(db)
  }
  await recordVersion(db, '010', 'agent order: fact times, former instances, clock skew, parked events, agent locks')
}
