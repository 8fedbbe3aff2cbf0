/**
 * From the legacy base + the hand-applied 006, and from complete (checks in
 * migration-checks.ts; the other starting points in migrations.test.ts).
 */
import { sql } from 'kysely'
import t from 'tap'
import { freshDatabase } from '../helper-db.js'
import { MIGRATIONS, referenceOf, secondRunChangesNothing, starts, testStart } from './migration-checks.js'

const reference = await referenceOf()
t.strictSame(reference.applied, MIGRATIONS, 'an empty database gets every migration')
for (const start of starts.filter((s) => s.fixtures.includes('legacy-006.sql'))) testStart(start, reference)

t.test('from complete', async (t) => {
  const { db, name } = await freshDatabase(t, { migrate: true })
  await sql`INSERT INTO clients (id, name, token_hash) VALUES ('c0000000-0000-4000-8000-000000000001', 'Ünïcode Client', SHA2('x', 256))`.execute(db)
  await secondRunChangesNothing(t, db, name, 'complete', reference)
})

