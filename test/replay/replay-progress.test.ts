/**
 * What a replay's progress counts: log rows, whatever seqs the log skipped
 * (an insert the unique event_id refused still takes its seqs, so a demo
 * restarted a few times has a head seq several times its rows), and the
 * plain lines (no terminal) end with the last count.
 */
import { Writable } from 'node:stream'
import { sql } from 'kysely'
import t from 'tap'
import { type Progress, progressFor } from '../../src/replay/progress.js'
import { replayFromLog } from '../../src/replay/from-log.js'
import { PROJECTIONS } from '../../src/wiring.js'
import { freshDatabase } from '../helper-db.js'
import { feedHistory } from './fixtures/history.js'

t.test('the total is the log\'s rows, not its head seq', async (t) => {
  const { db } = await freshDatabase(t, { migrate: true })
  await feedHistory(db, 'before-gap', 3, 2)
  const { rows: [head] } = await sql<{ seq: number }>`SELECT MAX(seq) AS seq FROM event_log`.execute(db)
  // A hole of 10,000 seqs, as refused inserts leave, then more history after it.
  await sql.raw(`ALTER TABLE event_log AUTO_INCREMENT = ${Number(head!.seq) + 10_000}`).execute(db)
  await feedHistory(db, 'after-gap', 3, 2)
  const { rows: [count] } = await sql<{ n: number, head: number }>`SELECT COUNT(*) AS n, MAX(seq) AS head FROM event_log`.execute(db)
  const rows = Number(count!.n)
  t.ok(Number(count!.head) > rows + 9_000, `the head seq (${count!.head}) is far past the rows (${rows})`)

  const seen: { total: number, done: number }[] = []
  const progress: Progress = { start: (total, done) => seen.push({ total, done }), update: (done, total) => seen.push({ total, done }), stop() {} }
  const r = await replayFromLog(db, { projections: PROJECTIONS, pageSize: 50, progress })
  t.equal(r.rows, rows, 'every row replayed')
  t.same(seen[0], { total: rows, done: 0 }, 'it starts at 0 of the rows')
  t.same(seen.at(-1), { total: rows, done: rows }, 'and ends at all of them')
  t.ok(seen.every((s) => s.total === rows), 'the total never counts the hole')
})

t.test('plain progress lines end with the last count', async (t) => {
  const written: string[] = []
  const stream = new Writable({ write(chunk: Buffer, _encoding, done) { written.push(chunk.toString()); done() } })
  const p = progressFor(stream)
  p.start(10, 0)
  p.update(10, 10) // within the first 2 s: no line of its own
  t.equal(written.length, 1, 'only the start line so far')
  p.stop()
  t.match(written.at(-1), /^replay: 10\/10 events, \d+ events\/s, ETA 0 s\n$/, 'the last count is printed at the end')
})
