/**
 * 001: the base schema the legacy system grew (clients, agents, pools,
 * instances, switches, cost records) in its corrected form: pool ids are
 * VARCHAR(128) (`<instance_type>.<az>`), money is DECIMAL, and the agent
 * columns that the legacy migration 007 meant to add are declared here.
 * A legacy table named `switches` becomes `instance_switches`.
 *
 * Legacy data the target columns cannot hold is repaired first, in place and
 * recorded (see legacy-repair.ts): the original agents' modes `ondemand` and
 * `unknown`, and NULLs in columns that had defaults.
 */
import { type Kysely, sql } from 'kysely'
import { type Has, type Repair, modeRepairs, nullToDefault, runRepairs } from '../legacy-repair.js'
import { OPTS, convergeTable, recordVersion, tableExists } from '../schema-kit.js'



const tables: Record<string, string> = {
  schema_migrations: `CREATE TABLE \`schema_migrations\` (
    version VARCHAR(32) NOT NULL,
    description VARCHAR(255) NULL,
    applied_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    PRIMARY KEY (version)
  ) ${OPTS}`,

  clients: `CREATE TABLE \`clients\` (
    id CHAR(36) NOT NULL,
    name VARCHAR(255) NOT NULL,
    email VARCHAR(255) NULL,
    client_token VARCHAR(255) NULL COMMENT 'legacy plaintext token; new clients store only token_hash',
    token_hash CHAR(64) NULL COMMENT 'sha256 hex of the bearer token',
    is_active TINYINT(1) NOT NULL DEFAULT 1,
    total_savings DECIMAL(16,6) NOT NULL DEFAULT 0,
    created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    updated_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
    PRIMARY KEY (id),
    UNIQUE KEY uq_clients_token_hash (token_hash)
  ) ${OPTS}`,

  agents: `CREATE TABLE \`agents\` (
    id CHAR(36) NOT NULL,
    client_id CHAR(36) NOT NULL,
    logical_agent_id VARCHAR(255) NULL,
    instance_id VARCHAR(64) NULL,
    instance_type VARCHAR(64) NULL,
    region VARCHAR(32) NULL,
    az VARCHAR(32) NULL,
    current_pool_id VARCHAR(128) NULL,
    current_mode ENUM('spot','on-demand') NOT NULL DEFAULT 'spot',
    hostname VARCHAR(255) NULL,
    status VARCHAR(32) NOT NULL DEFAULT 'offline',
    spot_price DECIMAL(12,6) NULL,
    ondemand_price DECIMAL(12,6) NULL,
    auto_switch_enabled TINYINT(1) NOT NULL DEFAULT 1,
    auto_terminate_enabled TINYINT(1) NOT NULL DEFAULT 1,
    terminate_wait_minutes INT NOT NULL DEFAULT 0,
    manual_replica_enabled TINYINT(1) NOT NULL DEFAULT 0,
    current_replica_id CHAR(36) NULL,
    last_interruption_signal DATETIME(3) NULL,
    last_failover_at DATETIME(3) NULL,
    interruption_handled_count INT NOT NULL DEFAULT 0,
    last_heartbeat_at DATETIME(3) NULL,
    created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    updated_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
    PRIMARY KEY (id),
    KEY idx_agents_client (client_id),
    KEY idx_agents_instance (instance_id)
  ) ${OPTS}`,

  spot_pools: `CREATE TABLE \`spot_pools\` (
    id VARCHAR(128) NOT NULL,
    instance_type VARCHAR(64) NOT NULL,
    region VARCHAR(32) NOT NULL,
    az VARCHAR(32) NOT NULL,
    is_active TINYINT(1) NOT NULL DEFAULT 1,
    created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    PRIMARY KEY (id),
    KEY idx_spot_pools_type_region (instance_type, region)
  ) ${OPTS}`,

  instances: `CREATE TABLE \`instances\` (
    id VARCHAR(64) NOT NULL,
    client_id CHAR(36) NOT NULL,
    agent_id CHAR(36) NULL,
    instance_type VARCHAR(64) NULL,
    region VARCHAR(32) NULL,
    az VARCHAR(32) NULL,
    pool_id VARCHAR(128) NULL,
    current_mode ENUM('spot','on-demand') NOT NULL DEFAULT 'spot',
    is_active TINYINT(1) NOT NULL DEFAULT 1,
    spot_price DECIMAL(12,6) NULL,
    ondemand_price DECIMAL(12,6) NULL,
    installed_at DATETIME(3) NULL,
    terminated_at DATETIME(3) NULL,
    created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    PRIMARY KEY (id),
    KEY idx_instances_client (client_id),
    KEY idx_instances_agent (agent_id)
  ) ${OPTS}`,

  instance_switches: `CREATE TABLE \`instance_switches\` (
    id BIGINT NOT NULL AUTO_INCREMENT,
    event_id CHAR(36) NULL COMMENT 'event that caused the switch; unique, so re-delivery adds nothing',
    client_id CHAR(36) NOT NULL,
    agent_id CHAR(36) NULL,
    old_instance_id VARCHAR(64) NULL,
    new_instance_id VARCHAR(64) NULL,
    old_pool_id VARCHAR(128) NULL,
    new_pool_id VARCHAR(128) NULL,
    old_mode ENUM('spot','on-demand') NULL,
    new_mode ENUM('spot','on-demand') NULL,
    on_demand_price DECIMAL(12,6) NULL,
    old_spot_price DECIMAL(12,6) NULL,
    new_spot_price DECIMAL(12,6) NULL,
    event_trigger VARCHAR(64) NULL,
    reason VARCHAR(64) NULL,
    savings_impact DECIMAL(16,6) NULL,
    switched_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    PRIMARY KEY (id),
    UNIQUE KEY uq_instance_switches_event (event_id),
    KEY idx_instance_switches_client_time (client_id, switched_at),
    KEY idx_instance_switches_agent_time (agent_id, switched_at)
  ) ${OPTS}`,

  cost_records: `CREATE TABLE \`cost_records\` (
    id BIGINT NOT NULL AUTO_INCREMENT,
    event_id CHAR(36) NULL COMMENT 'event that closed the interval',
    client_id CHAR(36) NOT NULL,
    agent_id CHAR(36) NULL,
    instance_id VARCHAR(64) NULL,
    pool_id VARCHAR(128) NULL,
    mode ENUM('spot','on-demand') NOT NULL DEFAULT 'spot',
    period_start DATETIME(3) NULL,
    period_end DATETIME(3) NULL,
    record_date DATE NOT NULL,
    hours DECIMAL(14,6) NOT NULL DEFAULT 0,
    spot_price DECIMAL(12,6) NULL,
    ondemand_price DECIMAL(12,6) NULL,
    actual_cost DECIMAL(16,6) NOT NULL DEFAULT 0,
    baseline_cost DECIMAL(16,6) NOT NULL DEFAULT 0,
    savings DECIMAL(16,6) NOT NULL DEFAULT 0,
    created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    PRIMARY KEY (id),
    UNIQUE KEY uq_cost_records_interval (agent_id, period_start),
    KEY idx_cost_records_client_date (client_id, record_date),
    KEY idx_cost_records_pool_period (pool_id, period_start)
  ) ${OPTS}`,
}

const legacyRepairs = (has: Has): Repair[] => [
  ...modeRepairs('instances', 'current_mode', false).slice(0, 1),
  ...modeRepairs('agents', 'current_mode', false).slice(0, 1),
  // An agent of unknown mode runs the instance its row names: that row may know.
  {
    code: 'agents.current_mode:unknown-from-instance', description: "'unknown' → the mode of the agent's current instance row",
    table: 'agents', needs: ['agents.current_mode', 'instances.current_mode'],
    join: 'JOIN instances ON instances.id = agents.instance_id',
    set: 'agents.current_mode = instances.current_mode',
    where: "agents.current_mode = 'unknown' AND instances.current_mode IN ('spot', 'on-demand')",
  },
  ...modeRepairs('agents', 'current_mode', false).slice(1),
  ...modeRepairs('instances', 'current_mode', false).slice(1),
  ...modeRepairs('instance_switches', 'old_mode', true),
  ...modeRepairs('instance_switches', 'new_mode', true),
  ...modeRepairs('cost_records', 'mode', false),
  nullToDefault('clients', 'is_active', '1'),
  nullToDefault('agents', 'status', "'offline'"),
  nullToDefault('agents', 'manual_replica_enabled', '0'),
  // The explicit manual setting wins over a missing automatic one (the two are exclusive).
  has('agents.manual_replica_enabled')
    ? nullToDefault('agents', 'auto_switch_enabled', 'CASE WHEN manual_replica_enabled = 1 THEN 0 ELSE 1 END', 'NULL → 1 (the column default), 0 where manual mode is on')
    : nullToDefault('agents', 'auto_switch_enabled', '1'),
  nullToDefault('agents', 'auto_terminate_enabled', '1'),
  nullToDefault('agents', 'terminate_wait_minutes', '0'),
  nullToDefault('spot_pools', 'is_active', '1'),
  nullToDefault('instances', 'is_active', '1'),
]

export async function up(db: Kysely<any>): Promise<void> {
  await convergeTable(db, 'schema_migrations', tables.schema_migrations!)
  // Some legacy databases call the switch history `switches`.
  if ((await tableExists(db, 'switches')) && !(await tableExists(db, 'instance_switches'))) {
    await sql`RENAME TABLE switches TO instance_switches`.execute(db)
  }
  await runRepairs(db, '001', legacyRepairs)
  for (const [name, ddl] of Object.entries(tables)) {
    if (name !== 'schema_migrations') await convergeTable(db, name, ddl)
  }
  // Legacy clients authenticated with a plaintext token: keep it working by
  // hash. A backfill, not an edit: updated_at keeps its value.
  await sql`UPDATE clients SET token_hash = SHA2(client_token, 256), updated_at = updated_at
            WHERE token_hash IS NULL AND client_token IS NOT NULL`.execute(db)
  await recordVersion(db, '001', 'base schema: clients, agents, pools, instances, switches, cost records')
}
