/**
 * Issue 8 §6 from the dirty legacy base (test/db/legacy-dirty.ts has the
 * checks), and many agents with two live replicas each.
 */
import { sql } from 'kysely'
import t from 'tap'
import { migrateToLatest } from '../../src/db/migrate.js'
import { fixture, freshDatabase, runSqlFile } from '../helper-db.js'
import { starts, testStart } from './legacy-dirty.js'

await testStart(starts[0]!)

t.test('many agents with two live replicas: all ended, the record stays within its column', async (t) => {
  const { db, url, name } = await freshDatabase(t)
  for (const f of ['legacy-base.sql', 'legacy-006.sql']) await runSqlFile(url, name, fixture(f))
  const n = 700 // their list is longer than a TEXT column
  const agent = (i: number) => `e2000000-0000-4000-8000-${String(i).padStart(12, '0')}`
  const replica = (i: number) => `e3000000-0000-4000-8000-${String(i).padStart(12, '0')}`
  await sql`INSERT INTO agents (id, client_id, instance_id) VALUES ${sql.join(
    Array.from({ length: n }, (_, i) => sql`(${agent(i)}, '2b8d4e61-9a3c-4f0b-8e7d-1c5a6b9f0e22', ${`i-0many${i}`})`))}`.execute(db)
  await sql`INSERT INTO replica_instances (id, agent_id, instance_id, pool_id, status, created_at) VALUES ${sql.join(
    Array.from({ length: 2 * n }, (_, i) => sql`(${replica(i)}, ${agent(i >> 1)}, ${`i-0manyrep${i}`}, 'm5.large.us-east-1b',
      'ready', ${i % 2 ? '2025-11-21 09:00:00' : '2025-11-21 08:00:00'})`))}`.execute(db)

  const { repairs } = await migrateToLatest(db)
  const ended = repairs.find((r) => r.repair === 'replica_instances.status:extra-live')
  t.equal(ended?.rowCount, n, 'one replica ended per agent')
  t.ok((ended?.detail?.length ?? 0) < 5000, 'detail cut to fit')
  t.match(ended?.detail, /… \(cut; all of them: termination_reason LIKE 'legacy-migration:%'\)$/, 'says where the rest is')
  const live = await sql<{ n: number }>`SELECT COUNT(*) AS n FROM replica_instances WHERE status = 'ready' AND id LIKE 'e3%'`.execute(db)
  t.equal(Number(live.rows[0]!.n), n, 'the newest of each is kept')
})
