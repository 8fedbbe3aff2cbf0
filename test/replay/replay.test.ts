/**
 * replay --from log on real MariaDB: the rebuilt projections equal the live
 * ones row for row; the views read the swapped-in tables; two at once
 * refuse. Kill-and-resume and replay under load: replay-live.test.ts.
 */
import { sql } from 'kysely'
import t from 'tap'
import type { Projection } from '../../src/log/projection.js'
import { ReplayBusyError, replayFromLog, tablesOf } from '../../src/replay/from-log.js'
import { PROJECTIONS } from '../../src/wiring.js'
import { freshDatabase } from '../helper-db.js'
import { feedHistory, projectionRows } from './fixtures/history.js'

/** Each projection table's definition (AUTO_INCREMENT counts rows, not shape). */
const definitions = async (db: Parameters<typeof projectionRows>[0]) => Promise.all(tablesOf(PROJECTIONS).map(async (table) =>
  (await sql.raw<{ 'Create Table': string }>(`SHOW CREATE TABLE \`${table}\``).execute(db)).rows[0]!['Create Table'].replace(/ AUTO_INCREMENT=\d+/, '')))

const shadows = async (db: Parameters<typeof projectionRows>[0], name: string) =>
  (await sql<{ n: string }>`SELECT SCHEMA_NAME AS n FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE ${`${name.slice(0, 40)}_rebuild_%`}`.execute(db)).rows

t.test('the rebuilt projections equal the live ones; the views read them; no shadow is left', async (t) => {
  const { db, name } = await freshDatabase(t, { migrate: true })
  await feedHistory(db, 'equal', 6, 4)
  const live = await projectionRows(db)
  const shapes = await definitions(db)
  for (const [table, rows] of Object.entries(live)) t.ok(rows.length > 0, `${table} has rows to rebuild`)
  // The tables are emptied first, so only the rebuild can give them their rows back.
  for (const table of Object.keys(live)) await sql.raw(`DELETE FROM \`${table}\``).execute(db)

  const r = await replayFromLog(db, { projections: PROJECTIONS, pageSize: 97 })
  t.same(await projectionRows(db), live, 'row for row')
  // The rebuild builds most indexes only at the end: the swapped-in tables have every index, in the same order.
  t.same(await definitions(db), shapes, 'the same table definitions, indexes included')
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
  await feedHistory(db, 'view', 3, 2)
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
