/**
 * The migrations bring every starting point DESIGN §4 names (empty, legacy
 * base, legacy base + the hand-applied 006 in migrations-006.test.ts,
 * complete) to the same schema without losing or altering a row, and a
 * second run changes nothing (checks in migration-checks.ts).
 */
import { sql } from 'kysely'
import t from 'tap'
import { createDb } from '../../src/db/connect.js'
import { MigrationError, migrateToLatest } from '../../src/db/migrate.js'
import { freshDatabase, onServer, randomName } from '../helper-db.js'
import { MIGRATIONS, referenceOf, starts, testStart } from './migration-checks.js'
import { fingerprint } from './schema-snapshot.js'

const reference = await referenceOf()
t.strictSame(reference.applied, MIGRATIONS, 'an empty database gets every migration')
for (const start of starts.filter((s) => !s.fixtures.includes('legacy-006.sql'))) testStart(start, reference)

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
