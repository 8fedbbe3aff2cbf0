/**
 * 021: read_versions, the data versions the HTTP response cache validates
 * against. One counter per read scope (`client:<id>` for a client's agents
 * and replicas, `pricing` for the shared price tables) and writer slot: every
 * transaction that applies inputs adds one to its slot's row of each scope it
 * touched, and a reader's version is the sum over the slots (only ever
 * growing). Slots keep two `serve` instances from queueing on one row lock.
 */
import type { Kysely } from 'kysely'
import { OPTS, convergeTable, recordVersion } from '../schema-kit.js'

const READ_VERSIONS = `CREATE TABLE \`read_versions\` (
    scope VARCHAR(64) NOT NULL COMMENT 'client:<client id> or pricing',
    slot TINYINT UNSIGNED NOT NULL COMMENT 'the writer process''s slot, 0-63',
    version BIGINT UNSIGNED NOT NULL DEFAULT 0,
    PRIMARY KEY (scope, slot)
  ) ${OPTS}`

export async function up(db: Kysely<any>): Promise<void> {
  await convergeTable(db, 'read_versions', READ_VERSIONS)
  await recordVersion(db, '021', 'read_versions: data versions for the HTTP response cache')
}
