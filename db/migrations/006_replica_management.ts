/**
 * 006: replica management (the legacy migration 006, corrected): replicas,
 * the clean price history the multi-pool charts read, and the log of spot
 * interruption signals with the response taken. At most one live replica per
 * agent is enforced by a unique index on a stored generated column (MariaDB
 * has no functional indexes; this form runs on MySQL 8 too).
 *
 * Legacy replica data is repaired on the way (recorded, see legacy-repair.ts):
 * status `running` becomes the live status that fits, NULL `created_by` is
 * filled, an agent's extra live replicas are ended (the newest is kept) before
 * the unique index goes on, both modes on is resolved (manual wins if a live
 * manual replica exists, else automatic), and the agent's pointer and counters
 * are backfilled from the replica and interruption rows.
 */
import { type Kysely, sql } from 'kysely'
import { type Repair, POOL_ID_REGEXP, nullToDefault, poolIdParts, runRepairs } from '../legacy-repair.js'
import { OPTS, convergeTable, recordVersion, tableExists } from '../schema-kit.js'



const tables: Record<string, string> = {
  replica_instances: `CREATE TABLE \`replica_instances\` (
    id CHAR(36) NOT NULL,
    agent_id VARCHAR(36) NOT NULL COMMENT 'VARCHAR: MariaDB refuses CHAR columns in generated expressions',
    client_id CHAR(36) NULL,
    instance_id VARCHAR(64) NULL,
    replica_type ENUM('manual','automatic-rebalance','automatic-termination') NOT NULL,
    pool_id VARCHAR(128) NOT NULL,
    instance_type VARCHAR(64) NULL,
    region VARCHAR(32) NULL,
    az VARCHAR(32) NULL,
    status ENUM('launching','syncing','ready','promoted','terminated','failed') NOT NULL DEFAULT 'launching',
    sync_status ENUM('initializing','syncing','synced','out-of-sync') NOT NULL DEFAULT 'initializing',
    sync_latency_ms INT NULL,
    state_transfer_progress DECIMAL(5,2) NOT NULL DEFAULT 0,
    hourly_cost DECIMAL(12,6) NULL,
    total_cost DECIMAL(16,6) NOT NULL DEFAULT 0,
    created_by VARCHAR(64) NOT NULL DEFAULT 'system',
    parent_instance_id VARCHAR(64) NULL,
    error_message TEXT NULL,
    termination_reason VARCHAR(255) NULL,
    live_agent_id VARCHAR(36) GENERATED ALWAYS AS (CASE WHEN status IN ('launching','syncing','ready') THEN agent_id END) STORED,
    created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    ready_at DATETIME(3) NULL,
    promoted_at DATETIME(3) NULL,
    terminated_at DATETIME(3) NULL,
    updated_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
    PRIMARY KEY (id),
    UNIQUE KEY uq_replica_one_live_per_agent (live_agent_id),
    KEY idx_replica_agent_status (agent_id, status),
    KEY idx_replica_client (client_id)
  ) ${OPTS}`,

  pricing_snapshots_clean: `CREATE TABLE \`pricing_snapshots_clean\` (
    id BIGINT NOT NULL AUTO_INCREMENT,
    event_id CHAR(36) NULL,
    pool_id VARCHAR(128) NOT NULL,
    instance_type VARCHAR(64) NOT NULL,
    region VARCHAR(32) NOT NULL,
    az VARCHAR(32) NOT NULL,
    spot_price DECIMAL(12,6) NOT NULL,
    ondemand_price DECIMAL(12,6) NULL,
    time_bucket DATETIME NOT NULL COMMENT 'observed_at truncated to the hour',
    observed_at DATETIME(3) NOT NULL,
    source_type VARCHAR(32) NOT NULL DEFAULT 'agent',
    created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    PRIMARY KEY (id),
    UNIQUE KEY uq_pricing_event (event_id),
    KEY idx_pricing_pool_time (pool_id, observed_at),
    KEY idx_pricing_type_region_time (instance_type, region, observed_at)
  ) ${OPTS}`,

  spot_interruption_events: `CREATE TABLE \`spot_interruption_events\` (
    id BIGINT NOT NULL AUTO_INCREMENT,
    event_id CHAR(36) NULL,
    client_id CHAR(36) NOT NULL,
    agent_id CHAR(36) NOT NULL,
    instance_id VARCHAR(64) NULL,
    pool_id VARCHAR(128) NULL,
    signal_type ENUM('rebalance-recommendation','termination-notice') NOT NULL,
    detected_at DATETIME(3) NOT NULL,
    termination_time DATETIME(3) NULL,
    response_action VARCHAR(40) NULL,
    replica_id CHAR(36) NULL,
    response_time_ms INT NULL,
    failover_time_ms INT NULL,
    success TINYINT(1) NULL,
    error_message TEXT NULL,
    created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    PRIMARY KEY (id),
    UNIQUE KEY uq_interruption_event (event_id),
    KEY idx_interruption_agent_time (agent_id, detected_at),
    KEY idx_interruption_client_time (client_id, detected_at),
    KEY idx_interruption_pool_time (pool_id, detected_at)
  ) ${OPTS}`,
}

const LIVE = "('launching', 'syncing', 'ready')"

/** On the legacy columns, before they become enums and NOT NULL. */
const replicaValueRepairs = (): Repair[] => [
  { code: 'replica_instances.status:running-synced', description: "'running', synced → 'ready'", table: 'replica_instances',
    needs: ['replica_instances.status', 'replica_instances.sync_status'],
    set: "status = 'ready'", where: "status = 'running' AND sync_status = 'synced'" },
  { code: 'replica_instances.status:running', description: "'running', not synced → 'syncing'", table: 'replica_instances',
    needs: ['replica_instances.status'], set: "status = 'syncing'", where: "status = 'running'" },
  nullToDefault('replica_instances', 'created_by', "CASE WHEN replica_type = 'manual' THEN 'user' ELSE 'system' END",
    "NULL → 'user' for a manual replica, else 'system'"),
]

const RANKED_LIVE = `SELECT id, instance_id,
    FIRST_VALUE(id) OVER (PARTITION BY agent_id ORDER BY created_at DESC, id DESC) AS keeper,
    ROW_NUMBER() OVER (PARTITION BY agent_id ORDER BY created_at DESC, id DESC) AS n
  FROM replica_instances WHERE status IN ${LIVE}`

/** Needs termination_reason, so it runs between a converge without the unique index and the full one. */
const extraLiveRepair: Repair = {
  code: 'replica_instances.status:extra-live', description: 'an agent\'s older live replica → terminated (its newest live replica is kept)',
  table: 'replica_instances', needs: ['replica_instances.termination_reason'],
  join: `JOIN (${RANKED_LIVE}) AS ranked ON ranked.id = replica_instances.id`,
  set: `replica_instances.status = 'terminated',
    replica_instances.terminated_at = COALESCE(replica_instances.terminated_at, UTC_TIMESTAMP(3)),
    replica_instances.termination_reason = CONCAT('legacy-migration: superseded by newer live replica ', ranked.keeper)`,
  where: 'ranked.n > 1',
  detail: `SELECT GROUP_CONCAT(CONCAT(id, ' (instance ', COALESCE(instance_id, 'none'), ', kept ', keeper, ')')
    ORDER BY id SEPARATOR '; ') AS detail FROM (${RANKED_LIVE}) AS ranked WHERE n > 1`,
  detailAll: "all of them: termination_reason LIKE 'legacy-migration:%'",
}

const FAILOVERS = `SELECT agent_id, COUNT(*) AS n, MAX(detected_at) AS last FROM spot_interruption_events
  WHERE response_action = 'failover' AND COALESCE(success, 1) = 1 GROUP BY agent_id`
const BOTH_ON = 'agents.manual_replica_enabled = 1 AND agents.auto_switch_enabled = 1'
const pool = poolIdParts('replica_instances.pool_id')

/** On the converged tables: derived columns and the agent rules the legacy data breaks. */
const convergedRepairs = (): Repair[] => [
  { code: 'agents.both_modes:manual', description: 'manual replica mode and automatic switching both on, a live manual replica → automatic off',
    table: 'agents', needs: [], set: 'agents.auto_switch_enabled = 0', where: BOTH_ON,
    join: `JOIN (SELECT DISTINCT agent_id FROM replica_instances WHERE replica_type = 'manual' AND status IN ${LIVE}) AS manual
      ON manual.agent_id = agents.id` },
  { code: 'agents.both_modes:automatic', description: 'both modes on, no live manual replica → manual replica mode off',
    table: 'agents', needs: [], set: 'agents.manual_replica_enabled = 0', where: BOTH_ON },
  { code: 'replica_instances.pool_parts:backfill', description: 'instance_type, region, az ← the pool id (Local and Wavelength Zones included)',
    table: 'replica_instances', needs: [],
    set: `replica_instances.az = ${pool.az}, replica_instances.instance_type = ${pool.instanceType}, replica_instances.region = ${pool.region}`,
    where: `replica_instances.instance_type IS NULL AND replica_instances.region IS NULL AND replica_instances.az IS NULL
      AND replica_instances.pool_id REGEXP '${POOL_ID_REGEXP}'` },
  { code: 'agents.current_replica_id:backfill', description: "→ the agent's live replica (NULL when it has none)",
    table: 'agents', needs: [], join: 'LEFT JOIN replica_instances ON replica_instances.live_agent_id = agents.id',
    set: 'agents.current_replica_id = replica_instances.id', where: 'NOT (agents.current_replica_id <=> replica_instances.id)' },
  { code: 'agents.last_failover_at:backfill', description: 'NULL → the latest successful failover in spot_interruption_events',
    table: 'agents', needs: [], join: `JOIN (${FAILOVERS}) AS failovers ON failovers.agent_id = agents.id`,
    set: 'agents.last_failover_at = failovers.last', where: 'agents.last_failover_at IS NULL' },
  { code: 'agents.interruption_handled_count:backfill', description: '0 → the successful failovers in spot_interruption_events',
    table: 'agents', needs: [], join: `JOIN (${FAILOVERS}) AS failovers ON failovers.agent_id = agents.id`,
    set: 'agents.interruption_handled_count = failovers.n', where: 'agents.interruption_handled_count = 0' },
]

async function hasExtraLive(db: Kysely<any>): Promise<boolean> {
  const r = await sql`SELECT agent_id FROM replica_instances WHERE status IN ${sql.raw(LIVE)}
    GROUP BY agent_id HAVING COUNT(*) > 1 LIMIT 1`.execute(db)
  return r.rows.length > 0
}

export async function up(db: Kysely<any>): Promise<void> {
  await runRepairs(db, '006', replicaValueRepairs)
  if (await tableExists(db, 'replica_instances') && await hasExtraLive(db)) {
    // Ending an extra live replica needs termination_reason, and the unique
    // index cannot go on before: converge without it, repair, then with it.
    const withoutIndex = tables.replica_instances!.replace(/\n\s*UNIQUE KEY uq_replica_one_live_per_agent \(live_agent_id\),/, '')
    if (withoutIndex === tables.replica_instances) throw new Error('006: the one-live-replica index is not where expected')
    await convergeTable(db, 'replica_instances', withoutIndex)
    await runRepairs(db, '006', () => [extraLiveRepair])
  }
  for (const [name, ddl] of Object.entries(tables)) await convergeTable(db, name, ddl)
  await runRepairs(db, '006', convergedRepairs)
  await recordVersion(db, '006', 'replica management: replicas, clean pricing, interruption events')
}
