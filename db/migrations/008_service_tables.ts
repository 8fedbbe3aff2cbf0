/**
 * 008: the service's own tables. `event_log` is the source of truth that
 * replays fold; `consumer_checkpoints` is the applied position per partition,
 * written in the same transaction as the effects; `dead_letter_events` keeps
 * what could not be applied, with the reason, until the relay has copied it
 * to `<topic>.dlq`; `outbox` holds commands for the
 * agents until the relay has published them.
 */
import type { Kysely } from 'kysely'
import { OPTS, convergeTable, recordVersion } from '../schema-kit.js'



export const tables: Record<string, string> = {
  event_log: `CREATE TABLE \`event_log\` (
    seq BIGINT NOT NULL AUTO_INCREMENT,
    event_id CHAR(36) NOT NULL,
    type VARCHAR(64) NOT NULL,
    version INT NOT NULL,
    client_id CHAR(36) NULL,
    agent_id CHAR(36) NULL,
    occurred_at DATETIME(3) NOT NULL,
    payload MEDIUMTEXT NOT NULL COMMENT 'the event as JSON at the current version, less the envelope its columns hold (older rows: the whole event)',
    source VARCHAR(16) NOT NULL COMMENT 'kafka | http | decision',
    cause_event_id CHAR(36) NULL,
    topic VARCHAR(249) NULL,
    partition_no INT NULL,
    offset_no BIGINT NULL,
    recorded_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    PRIMARY KEY (seq),
    UNIQUE KEY uq_event_log_event (event_id),
    KEY idx_event_log_agent (agent_id, seq),
    KEY idx_event_log_cause (cause_event_id)
  ) ${OPTS}`,

  consumer_checkpoints: `CREATE TABLE \`consumer_checkpoints\` (
    topic VARCHAR(249) NOT NULL,
    partition_no INT NOT NULL,
    offset_no BIGINT NOT NULL COMMENT 'last applied offset',
    updated_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
    PRIMARY KEY (topic, partition_no)
  ) ${OPTS}`,

  dead_letter_events: `CREATE TABLE \`dead_letter_events\` (
    id BIGINT NOT NULL AUTO_INCREMENT,
    topic VARCHAR(249) NULL,
    partition_no INT NULL,
    offset_no BIGINT NULL,
    message_key VARBINARY(1024) NULL,
    raw_value MEDIUMBLOB NULL,
    event_id CHAR(36) NULL,
    event_type VARCHAR(64) NULL,
    reason TEXT NOT NULL,
    created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    published_at DATETIME(3) NULL COMMENT 'when the relay put it on <topic>.dlq',
    PRIMARY KEY (id),
    UNIQUE KEY uq_dead_letter_position (topic, partition_no, offset_no),
    KEY idx_dead_letter_pending (published_at, id),
    KEY idx_dead_letter_time (created_at)
  ) ${OPTS}`,

  outbox: `CREATE TABLE \`outbox\` (
    id BIGINT NOT NULL AUTO_INCREMENT,
    command_id CHAR(36) NOT NULL,
    type VARCHAR(64) NOT NULL,
    client_id CHAR(36) NULL,
    agent_id CHAR(36) NOT NULL,
    payload MEDIUMTEXT NOT NULL COMMENT 'the command as JSON',
    cause_event_id CHAR(36) NULL,
    created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    sent_at DATETIME(3) NULL,
    attempts INT NOT NULL DEFAULT 0,
    PRIMARY KEY (id),
    UNIQUE KEY uq_outbox_command (command_id),
    KEY idx_outbox_pending (sent_at, id),
    KEY idx_outbox_agent (agent_id, id)
  ) ${OPTS}`,
}

export async function up(db: Kysely<any>): Promise<void> {
  for (const [name, ddl] of Object.entries(tables)) await convergeTable(db, name, ddl)
  await recordVersion(db, '008', 'service tables: event log, checkpoints, dead letters, outbox')
}
