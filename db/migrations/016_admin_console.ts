/**
 * 016: what the operator's console and the client view need.
 * - agents.enabled: the agent controls' on/off switch (a disabled agent gets
 *   no automatic action; termination notices are still answered).
 * - agents.manual_replica_pending: manual mode wanted a replica and no pool
 *   was known yet; the rules launch it as soon as one is.
 * - notifications: a projection of the log (termination notices, failovers,
 *   emergency snapshots, replicas that could not be placed), keyed by the
 *   decision's cause so a replay rebuilds the same rows.
 * - notification_reads: which notifications were marked read. Not part of the
 *   projection (a replay must not forget them), keyed by notification id.
 *
 * Only additions to the existing tables, read from information_schema.
 */
import { type Kysely, sql } from 'kysely'
import { OPTS, convergeTable, recordVersion } from '../schema-kit.js'

const tables: Record<string, string> = {
  notifications: `CREATE TABLE \`notifications\` (
    id VARCHAR(64) NOT NULL COMMENT 'kind and the event id it is about',
    client_id CHAR(36) NOT NULL,
    agent_id CHAR(36) NULL,
    kind VARCHAR(32) NOT NULL,
    severity VARCHAR(16) NOT NULL,
    message VARCHAR(512) NOT NULL,
    occurred_at DATETIME(3) NOT NULL,
    PRIMARY KEY (id),
    KEY idx_notifications_client_time (client_id, occurred_at),
    KEY idx_notifications_time (occurred_at)
  ) ${OPTS}`,

  notification_reads: `CREATE TABLE \`notification_reads\` (
    id VARCHAR(64) NOT NULL,
    read_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    PRIMARY KEY (id)
  ) ${OPTS}`,
}

const columns: { table: string, column: string, definition: string }[] = [
  { table: 'agents', column: 'enabled', definition: `TINYINT(1) NOT NULL DEFAULT 1 COMMENT 'off: no automatic action for the agent'` },
  { table: 'agents', column: 'manual_replica_pending', definition: `TINYINT(1) NOT NULL DEFAULT 0 COMMENT 'manual mode waits for a pool to place its replica in'` },
]

async function hasColumn(db: Kysely<any>, table: string, column: string): Promise<boolean> {
  const r = await sql<{ n: number }>`SELECT COUNT(*) AS n FROM information_schema.COLUMNS
    WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ${table} AND COLUMN_NAME = ${column}`.execute(db)
  return Number(r.rows[0]?.n) > 0
}

export async function up(db: Kysely<any>): Promise<void> {
  for (const [name, ddl] of Object.entries(tables)) await convergeTable(db, name, ddl)
  for (const c of columns) {
    if (!(await hasColumn(db, c.table, c.column))) await sql.raw(`ALTER TABLE \`${c.table}\` ADD COLUMN \`${c.column}\` ${c.definition}`).execute(db)
  }
  await recordVersion(db, '016', 'admin console: agent enabled, pending manual replica, notifications')
}
