/**
 * 012: replay (src/replay/). `replay_rebuilds` is the checkpoint of each
 * rebuild of the projections into a shadow database: the log position it has
 * applied and the seqs below it not seen yet (transactions that were in flight
 * when it read past them), updated in the same transaction as the shadow
 * rows, so a rebuild resumes exactly where a crash left it. `replay_gate` is
 * the one row every applying transaction share-locks first and the swap
 * locks exclusively, so no batch commits between the last catch-up and the
 * RENAME. event_log gets an index on cause_event_id: replay reads each input
 * with what it caused.
 */
import { sql, type Kysely } from 'kysely'
import { OPTS, convergeTable, recordVersion } from '../schema-kit.js'
import { tables as serviceTables } from './008_service_tables.js'

const tables: Record<string, string> = {
  replay_rebuilds: `CREATE TABLE \`replay_rebuilds\` (
    id BIGINT NOT NULL AUTO_INCREMENT,
    source VARCHAR(16) NOT NULL COMMENT 'log',
    shadow_database VARCHAR(64) NOT NULL,
    status ENUM('running','swapped') NOT NULL DEFAULT 'running',
    position BIGINT NOT NULL DEFAULT 0 COMMENT 'highest event_log seq applied to the shadow tables',
    pending_gaps MEDIUMTEXT NOT NULL COMMENT 'JSON [[seq, first seen ms], ...]: seqs below position not read yet',
    events_applied BIGINT NOT NULL DEFAULT 0,
    started_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    updated_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
    finished_at DATETIME(3) NULL,
    PRIMARY KEY (id),
    KEY idx_replay_rebuilds_status (status)
  ) ${OPTS}`,

  replay_gate: `CREATE TABLE \`replay_gate\` (
    id TINYINT NOT NULL,
    PRIMARY KEY (id)
  ) ${OPTS}`,
}

export async function up(db: Kysely<any>): Promise<void> {
  await convergeTable(db, 'event_log', serviceTables['event_log']!)
  for (const [name, ddl] of Object.entries(tables)) await convergeTable(db, name, ddl)
  await sql`INSERT IGNORE INTO replay_gate (id) VALUES (1)`.execute(db)
  await recordVersion(db, '012', 'replay: rebuild checkpoints, the swap gate, event_log cause index')
}
