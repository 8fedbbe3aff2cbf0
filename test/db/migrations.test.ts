/**
 * The migrations bring every starting point DESIGN §4 names (empty, legacy
 * base, legacy base + the hand-applied 006, complete) to the same schema
 * without losing or altering a row, and a second run changes nothing.
 */
import { createHash } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import { type Kysely, sql } from 'kysely'
import t, { type Test } from 'tap'
import { createDb } from '../../src/db/connect.js'
import { MigrationError, migrateToLatest } from '../../src/db/migrate.js'
import { fixture, freshDatabase, onServer, randomName, runSqlFile } from '../helper-db.js'
import { type RowSnapshot, columnNames, fingerprint, snapshotRows, tableRows } from './schema-snapshot.js'

const MIGRATIONS = ['001_base', '006_replica_management', '007_schema_completion', '008_service_tables', '009_migration_repairs', '010_agent_order', '012_replay', '013_dead_letter_refusals', '014_dead_letter_redrive']

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const start = performance.now()
  const r = await fn()
  return [r, Math.round(performance.now() - start)]
}

// The reference: the schema migrating an empty database produces.
const reference = await (async () => {
  const { db, name } = await freshDatabase(t)
  const [result, ms] = await timed(() => migrateToLatest(db))
  t.comment(`migrate empty: ${ms} ms`)
  return { fingerprint: await fingerprint(db, name), applied: result.applied }
})()

t.strictSame(reference.applied, MIGRATIONS, 'an empty database gets every migration')

interface Start {
  name: string
  fixtures: string[]
}

const starts: Start[] = [
  { name: 'empty', fixtures: [] },
  { name: 'legacy base', fixtures: ['legacy-base.sql'] },
  { name: 'legacy base + hand-applied 006', fixtures: ['legacy-base.sql', 'legacy-006.sql'] },
]

/**
 * A second run applies nothing; and with Kysely's history lost (a schema made
 * by other means) every migration runs again over the finished schema and
 * must leave it, and every row, exactly as it is.
 */
async function secondRunChangesNothing(t: Test, db: Kysely<any>, name: string, label: string) {
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

for (const start of starts) {
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
    t.strictSame(versions, [...new Set([...legacyVersions, '001', '006', '007', '008', '009', '010', '012', '013', '014'])].sort(), 'schema_migrations versions')

    await secondRunChangesNothing(t, db, name, start.name)
  })
}

t.test('from complete', async (t) => {
  const { db, name } = await freshDatabase(t, { migrate: true })
  await sql`INSERT INTO clients (id, name, token_hash) VALUES ('c0000000-0000-4000-8000-000000000001', 'Ünïcode Client', SHA2('x', 256))`.execute(db)
  await secondRunChangesNothing(t, db, name, 'complete')
})

t.test('two concurrent runs take turns', async (t) => {
  const { url, name } = await freshDatabase(t)
  const a = createDb({ url, database: name, connectionLimit: 2 })
  const b = createDb({ url, database: name, connectionLimit: 2 })
  t.teardown(async () => { await a.destroy(); await b.destroy() })
  const [ra, rb] = await Promise.all([migrateToLatest(a), migrateToLatest(b)])
  t.strictSame([...ra.applied, ...rb.applied].sort(), MIGRATIONS, 'each migration applied exactly once')
  t.strictSame(await fingerprint(a, name), reference.fingerprint, 'schema complete')
})

t.test('a user without DDL privileges is refused in one line', async (t) => {
  const { url, name } = await freshDatabase(t)
  const user = randomName('sf')
  const hosts = ['%', 'localhost']
  await onServer(url, ...hosts.flatMap((h) => [
    `CREATE USER IF NOT EXISTS '${user}'@'${h}' IDENTIFIED BY 'pw'`,
    `GRANT SELECT, INSERT, UPDATE, DELETE ON \`${name}\`.* TO '${user}'@'${h}'`,
  ]))
  t.teardown(() => onServer(url, ...hosts.map((h) => `DROP USER IF EXISTS '${user}'@'${h}'`)))
  const u = new URL(url)
  u.username = user
  u.password = 'pw'
  const db = createDb({ url: u.toString(), database: name, connectionLimit: 1 })
  t.teardown(() => db.destroy())

  const err = await migrateToLatest(db).then(() => null, (e: unknown) => e)
  t.type(err, MigrationError)
  const message = err instanceof Error ? err.message : ''
  t.notMatch(message, /\n/, 'one line')
  t.match(message, user, 'names the user')
  for (const p of ['CREATE', 'ALTER', 'INDEX', 'CREATE ROUTINE', 'CREATE VIEW']) {
    t.match(message, new RegExp(`\\b${p}\\b`), `names ${p}`)
  }
  t.notMatch(message, /\bSELECT\b/, 'does not name what it has')
  const tables = await sql<{ n: number }>`
    SELECT COUNT(*) AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = ${name}`.execute(db)
  t.equal(Number(tables.rows[0]?.n), 0, 'nothing was created')
})
