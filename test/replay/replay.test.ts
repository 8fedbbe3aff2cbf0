/**
 * replay --from log on real MariaDB: the rebuilt projections equal the live
 * ones row for row; a replay killed halfway (SIGKILL) and restarted ends
 * equal; a replay running while events keep arriving ends equal to the live
 * run; two at once refuse; the views read the swapped-in tables.
 */
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { sql } from 'kysely'
import t from 'tap'
import { createDb } from '../../src/db/connect.js'
import type { Projection } from '../../src/log/projection.js'
import { ReplayBusyError, replayFromLog } from '../../src/replay/from-log.js'
import { PROJECTIONS } from '../../src/wiring.js'
import { freshDatabase } from '../helper-db.js'
import { waitFor } from '../helper-kafka.js'
import { feedHistory, projectionRows } from './fixtures/history.js'

const CHILD = fileURLToPath(new URL('./fixtures/replay-child.ts', import.meta.url))
const tsLoader = process.execArgv.filter((a) => a.includes('typescript'))

const shadows = async (db: Parameters<typeof projectionRows>[0], name: string) =>
  (await sql<{ n: string }>`SELECT SCHEMA_NAME AS n FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE ${`${name.slice(0, 40)}_rebuild_%`}`.execute(db)).rows

t.test('the rebuilt projections equal the live ones; the views read them; no shadow is left', async (t) => {
  const { db, name } = await freshDatabase(t, { migrate: true })
  await feedHistory(db, 'equal', 8, 6)
  const live = await projectionRows(db)
  for (const [table, rows] of Object.entries(live)) t.ok(rows.length > 0, `${table} has rows to rebuild`)
  // The tables are emptied first, so only the rebuild can give them their rows back.
  for (const table of Object.keys(live)) await sql.raw(`DELETE FROM \`${table}\``).execute(db)

  const r = await replayFromLog(db, { projections: PROJECTIONS, pageSize: 97 })
  t.same(await projectionRows(db), live, 'row for row')
  t.equal(r.resumed, false)
  t.same(await shadows(db, name), [], 'the shadow database is dropped')
  const ranking = await sql`SELECT * FROM v_pool_reliability_ranking`.execute(db)
  t.ok(Array.isArray(ranking.rows), 'v_pool_reliability_ranking still resolves after the swap')
  const again = await replayFromLog(db, { projections: PROJECTIONS })
  t.not(again.rebuildId, r.rebuildId, 'a second replay is a new rebuild')
  t.same(await projectionRows(db), live, 'and gives the same rows')
})

t.test('v_pool_reliability_ranking reads the swapped-in table, not the replaced one', async (t) => {
  const { db } = await freshDatabase(t, { migrate: true })
  await feedHistory(db, 'view', 4, 3)
  const hour = new Date().toISOString().slice(0, 13).replace('T', ' ') + ':00:00'
  await db.insertInto('pool_reliability_metrics').values({ pool_id: 'm5.large.us-east-1z', bucket_start: hour, rebalance_count: 99 }).execute()
  // A projection of its own for the table the view reads: one rebalance per recorded rebalance signal, this hour.
  const probe: Projection<'decision.signal_recorded'> = {
    name: 'view-probe', handles: ['decision.signal_recorded'], tables: ['pool_reliability_metrics'],
    async apply(db, events) {
      const rows = events.filter((e) => e.data.signalType === 'rebalance-recommendation').map((e) => ({ pool_id: e.data.poolId, bucket_start: hour, rebalance_count: 1 }))
      if (rows.length > 0) await db.insertInto('pool_reliability_metrics').values(rows).onDuplicateKeyUpdate({ rebalance_count: sql`rebalance_count + 1` }).execute()
    },
  }
  await replayFromLog(db, { projections: [probe] })
  const ranking = await sql<{ pool_id: string, rebalances_7d: string }>`SELECT pool_id, rebalances_7d FROM v_pool_reliability_ranking ORDER BY pool_id`.execute(db)
  const expected = await sql<{ pool_id: string, n: number }>`SELECT JSON_VALUE(payload, '$.data.poolId') AS pool_id, COUNT(*) AS n FROM event_log
    WHERE type = 'decision.signal_recorded' AND JSON_VALUE(payload, '$.data.signalType') = 'rebalance-recommendation' GROUP BY pool_id ORDER BY pool_id`.execute(db)
  t.ok(expected.rows.length > 0)
  t.same(ranking.rows.map((r) => [r.pool_id, Number(r.rebalances_7d)]), expected.rows.map((r) => [r.pool_id, Number(r.n)]))
})

t.test('a replay killed halfway and restarted ends equal', async (t) => {
  const { db, url, name } = await freshDatabase(t, { migrate: true })
  await feedHistory(db, 'killed', 8, 6)
  const live = await projectionRows(db)
  const dbUrl = `${url.replace(/\/[^/]*$/, '')}/${name}`
  const child = spawn(process.execPath, [...tsLoader, CHILD], {
    env: { ...process.env, DATABASE_URL: dbUrl, PAGE: '40', SLOW_MS: '30' }, stdio: ['ignore', 'pipe', 'inherit'],
  })
  t.teardown(() => { child.kill('SIGKILL') })
  let pages = 0
  child.stdout!.on('data', (b: Buffer) => { pages += (String(b).match(/^page /gm) ?? []).length })
  await waitFor('a few pages', async () => pages >= 5)
  child.kill('SIGKILL')
  await new Promise((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve(null) : child.once('exit', resolve)))
  const [cp] = await db.selectFrom('replay_rebuilds').selectAll().execute()
  t.equal(cp?.status, 'running', 'the killed rebuild is left running')
  t.ok(cp!.position > 0, `its checkpoint moved (${cp!.position})`)

  const r = await replayFromLog(db, { projections: PROJECTIONS, pageSize: 40 })
  t.equal(r.resumed, true, 'the restart resumes the same rebuild')
  t.equal(r.rebuildId, cp!.id)
  t.same(await projectionRows(db), live, 'row for row')
  t.same(await shadows(db, name), [])
})

t.test('a replay running while events keep arriving ends equal to the live run', async (t) => {
  const { db, url, name } = await freshDatabase(t, { migrate: true })
  await feedHistory(db, 'busy-1', 6, 4)
  let replaying = true
  const writer = (async () => {
    const other = createDb({ url, database: name, connectionLimit: 4 })
    try {
      for (let i = 0; replaying || i < 2; i++) await feedHistory(other, `busy-w${i}`, 3, 2)
    } finally {
      await other.destroy()
    }
  })()
  // Slow pages so the writer's batches land during the rebuild, the catch-up and the swap.
  await replayFromLog(db, { projections: PROJECTIONS, pageSize: 60, onPage: () => new Promise((r) => setTimeout(r, 20)) })
  replaying = false
  await writer
  const after = await projectionRows(db)
  // The truth: what a rebuild from the whole log gives now that nothing arrives.
  await replayFromLog(db, { projections: PROJECTIONS })
  t.same(after, await projectionRows(db), 'nothing applied during the replay was lost, nothing twice')
})

t.test('two replays at once: the second refuses', async (t) => {
  const { db } = await freshDatabase(t, { migrate: true })
  await feedHistory(db, 'twice', 3, 2)
  let second: unknown
  await replayFromLog(db, {
    projections: PROJECTIONS, pageSize: 10,
    onPage: async () => { second ??= await replayFromLog(db, { projections: PROJECTIONS }).then(() => 'ran', (e) => e) },
  })
  t.ok(second instanceof ReplayBusyError, 'ReplayBusyError')
})
