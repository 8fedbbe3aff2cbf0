/**
 * 013: a dead letter the broker (or the producer's size limit) refuses to
 * take on `<topic>.dlq` is marked with the refusal instead of being retried
 * for ever and holding back the others. Pending means neither published nor
 * refused, which the pending index now covers.
 */
import type { Kysely } from 'kysely'
import { OPTS, convergeTable, recordVersion } from '../schema-kit.js'

const deadLetterEvents = `CREATE TABLE \`dead_letter_events\` (
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
    PRIMARY KEY (id),
    UNIQUE KEY uq_dead_letter_position (topic, partition_no, offset_no),
    KEY idx_dead_letter_pending (published_at, publish_refused_at, id),
    KEY idx_dead_letter_time (created_at)
  ) ${OPTS}`

export async function up(db: Kysely<any>): Promise<void> {
  await convergeTable(db, 'dead_letter_events', deadLetterEvents)
  await recordVersion(db, '013', 'dead letters the broker refuses are marked with the refusal')
}
