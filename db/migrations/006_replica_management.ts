/**
 * 006: replica management (the legacy migration 006, corrected): replicas,
 * the clean price history the multi-pool charts read, and the log of spot
 * interruption signals with the response taken. At most one live replica per
 * agent is enforced by a unique index on a stored generated column (MariaDB
 * has no functional indexes; this form runs on MySQL 8 too).
 */
import type { Kysely } from 'kysely'
import { OPTS, convergeTable, recordVersion } from '../schema-kit.js'



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

export async function up(db: Kysely<any>): Promise<void> {
  for (const [name, ddl] of Object.entries(tables)) await convergeTable(db, name, ddl)
  await recordVersion(db, '006', 'replica management: replicas, clean pricing, interruption events')
}
