/**
 * 014: what an operator's re-drive of a dead letter did. A parked letter has
 * resolved_at NULL; a re-drive that applies it (or finds it applied before)
 * sets resolved_at; one that fails again keeps it parked with the new reason.
 * redrive_count and last_redriven_at say how often and when it was tried.
 * The table as 013 left it, plus these columns and the parked index.
 */
import type { Kysely } from 'kysely'
import { OPTS, convergeTable, recordVersion } from '../schema-kit.js'

const DEAD_LETTER_EVENTS = `CREATE TABLE \`dead_letter_events\` (
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
    publish_refused_at DATETIME(3) NULL COMMENT 'when the broker or the producer limit refused it; not retried',
    publish_error TEXT NULL COMMENT 'the refusal',
    redrive_count INT NOT NULL DEFAULT 0,
    last_redriven_at DATETIME(3) NULL,
    resolved_at DATETIME(3) NULL COMMENT 'when a re-drive applied it; NULL while parked',
    PRIMARY KEY (id),
    UNIQUE KEY uq_dead_letter_position (topic, partition_no, offset_no),
    KEY idx_dead_letter_pending (published_at, publish_refused_at, id),
    KEY idx_dead_letter_time (created_at),
    KEY idx_dead_letter_parked (resolved_at, created_at, id)
  ) ${OPTS}`

export async function up(db: Kysely<any>): Promise<void> {
  await convergeTable(db, 'dead_letter_events', DEAD_LETTER_EVENTS)
  await recordVersion(db, '014', 'dead letters: re-drive outcome')
}
