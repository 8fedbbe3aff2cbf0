/**
 * Shared by migrations.test.ts and migrations-006.test.ts (split so that each
 * file stays within tap's per-file timeout on a loaded machine): the
 * migrations bring every starting point DESIGN §4 names to the same schema
 * without losing or altering a row, and a second run changes nothing.
 */
import { createHash } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import { type Kysely, sql } from 'kysely'
import t, { type Test } from 'tap'
import { migrateToLatest } from '../../src/db/migrate.js'
import { fixture, freshDatabase, runSqlFile } from '../helper-db.js'
import { type Fingerprint, type RowSnapshot, columnNames, fingerprint, snapshotRows, tableRows } from './schema-snapshot.js'

export const MIGRATIONS = ['001_base', '006_replica_management', '007_schema_completion', '008_service_tables', '009_migration_repairs', '010_agent_order', '011_projections', '012_replay', '013_dead_letter_refusals', '014_dead_letter_redrive', '016_admin_console', '019_pricing_buckets', '020_agent_price_at', '021_read_versions', '022_event_log_lean']

export async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const start = performance.now()
  const r = await fn()
  return [r, Math.round(performance.now() - start)]
}

export interface Reference { fingerprint: Fingerprint, applied: string[] }

/** The reference: the schema migrating an empty database produces. */
export async function referenceOf(): Promise<Reference> {
  const { db, name } = await freshDatabase(t)
  const [result, ms] = await timed(() => migrateToLatest(db))
  t.comment(`migrate empty: ${ms} ms`)
  return { fingerprint: await fingerprint(db, name), applied: result.applied }
}

export interface Start {
  name: string
  fixtures: string[]
}

export const starts: Start[] = [
  { name: 'empty', fixtures: [] },
  { name: 'legacy base', fixtures: ['legacy-base.sql'] },
  { name: 'legacy base + hand-applied 006', fixtures: ['legacy-base.sql', 'legacy-006.sql'] },
]

/**
 * A second run applies nothing; and with Kysely's history lost (a schema made
 * by other means) every migration runs again over the finished schema and
 * must leave it, and every row, exactly as it is.
 */
export async function secondRunChangesNothing(t: Test, db: Kysely<any>, name: string, label: string, reference: Reference) {
  const rowsBefore = await snapshotRows(db, name)
  const [again, ms] = await timed(() => migrateToLatest(db))
  t.comment(`migrate ${label} again: ${ms} ms`)
  t.strictSame(again.applied, [], 'second run applies nothing')
  t.strictSame(await fingerprint(db, name), reference.fingerprint, 'schema unchanged by the second run')
  t.strictSame(await snapshotRows(db, name), rowsBefore, 'rows unchanged by the second run')

  await sql`DROP TABLE kysely_migration, kysely_migration_lock`.execute(db)
  const [rerun, ms2] = await timed(() => migrateToLatest(db))
  t.comment(`migrate ${label} again without Kysely history: ${ms2} ms`)
  t.strictSame(rerun.applied, MIGRATIONS, 'every migration re-ran')
  t.strictSame(await fingerprint(db, name), reference.fingerprint, 'schema unchanged by the re-run')
  const { kysely_migration: _m, kysely_migration_lock: _l, ...rowsAfter } = await snapshotRows(db, name)
  const { kysely_migration: _m0, kysely_migration_lock: _l0, ...rowsExpected } = rowsBefore
  t.strictSame(rowsAfter, rowsExpected, 'rows unchanged by the re-run')
}

export function testStart(start: Start, reference: Reference): void {
  t.test(`from ${start.name}`, async (t) => {
    const { db, url, name } = await freshDatabase(t)
    for (const f of start.fixtures) await runSqlFile(url, name, fixture(f))
    // Legacy rows, by table, on the legacy columns.
    const before: RowSnapshot = await snapshotRows(db, name)

    const [result, ms] = await timed(() => migrateToLatest(db))
    t.comment(`migrate ${start.name}: ${ms} ms`)
    t.strictSame(result.applied, MIGRATIONS, 'every migration ran')
    t.strictSame(await fingerprint(db, name), reference.fingerprint, 'same schema as from empty')

    for (const [table, legacy] of Object.entries(before)) {
      const target = table === 'switches' ? 'instance_switches' : table
      let after = await tableRows(db, target, legacy.columns)
      if (table === 'schema_migrations') {
        // The only table the migrations add rows to: compare the legacy versions.
        const versions = new Set(legacy.rows.map((r) => r[0]))
        after = after.filter((r) => versions.has(r[0]!))
      }
      t.equal(after.length, legacy.rows.length, `${table}: row count kept`)
      t.strictSame(after, legacy.rows, `${table}: rows kept in ${target}`)
    }
    if (before.switches) t.notOk((await columnNames(db, name, 'switches')).length, 'switches renamed, not copied')

    if (before.clients) {
      const clients = await sql<{ client_token: string | null, token_hash: string | null }>`
        SELECT client_token, token_hash FROM clients`.execute(db)
      for (const c of clients.rows) {
        const want = c.client_token === null ? null : createHash('sha256').update(c.client_token).digest('hex')
        t.equal(c.token_hash, want, `token_hash of ${c.client_token ?? 'a client without token'}`)
      }
    }

    const versions = (await sql<{ version: string }>`SELECT version FROM schema_migrations ORDER BY version`
      .execute(db)).rows.map((r) => r.version)
    const legacyVersions = before.schema_migrations?.rows.map((r) => r[0]!) ?? []
    t.strictSame(versions, [...new Set([...legacyVersions, '001', '006', '007', '008', '009', '010', '011', '012', '013', '014', '016', '019', '020', '021', '022'])].sort(), 'schema_migrations versions')

    await secondRunChangesNothing(t, db, name, start.name, reference)
  })
}

