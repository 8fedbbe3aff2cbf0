/**
 * replay --from log against a moving target: a replay killed halfway
 * (SIGKILL of its process) and restarted ends equal to the live rows; a
 * replay running while events keep arriving ends equal to the live run.
 */
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { sql } from 'kysely'
import t from 'tap'
import { createDb } from '../../src/db/connect.js'
import { replayFromLog } from '../../src/replay/from-log.js'
import { PROJECTIONS } from '../../src/wiring.js'
import { freshDatabase } from '../helper-db.js'
import { waitFor } from '../helper-kafka.js'
import { feedHistory, projectionRows } from './fixtures/history.js'

const CHILD = fileURLToPath(new URL('./fixtures/replay-child.ts', import.meta.url))
const tsLoader = process.execArgv.filter((a) => a.includes('typescript'))

const shadows = async (db: Parameters<typeof projectionRows>[0], name: string) =>
  (await sql<{ n: string }>`SELECT SCHEMA_NAME AS n FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE ${`${name.slice(0, 40)}_rebuild_%`}`.execute(db)).rows

t.test('a replay killed halfway and restarted ends equal', async (t) => {
  const { db, url, name } = await freshDatabase(t, { migrate: true })
  await feedHistory(db, 'killed', 6, 4)
  const live = await projectionRows(db)
  const dbUrl = `${url.replace(/\/[^/]*$/, '')}/${name}`
  const child = spawn(process.execPath, [...tsLoader, CHILD], {
    env: { ...process.env, DATABASE_URL: dbUrl, PAGE: '10', SLOW_MS: '30' }, stdio: ['ignore', 'pipe', 'inherit'],
  })
  t.teardown(() => { child.kill('SIGKILL') })
  let pages = 0
  child.stdout!.on('data', (b: Buffer) => { pages += (String(b).match(/^page /gm) ?? []).length })
  await waitFor('a few pages', async () => pages >= 2)
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
  await feedHistory(db, 'busy-1', 4, 3)
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
