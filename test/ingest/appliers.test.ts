/**
 * Several appliers in one consumer, against the real broker and MariaDB:
 * with two, two transactions run at once (over disjoint partitions), and
 * what they store is what one applier stores from the same stream: every
 * valid event once, the same agents, prices and dead letters, checkpoints
 * at the last offsets.
 */
import t from 'tap'
import { freshDatabase } from '../helper-db.js'
import { kafkaFor, uniqueName, waitFor } from '../helper-kafka.js'
import { createIngestConsumer } from '../../src/ingest/consumer.js'
import type { Projection } from '../../src/log/projection.js'
import { pipeline } from '../../src/wiring.js'
import { caughtUp, dump, produce } from './fixtures/steps.js'
import { mixedStream } from './fixtures/stream.js'

/**
 * A projection that only watches how many transactions are inside the
 * projections at once. Until it has seen `expected` of them together it
 * holds each transaction up to 2 s, so that concurrent appliers surely meet
 * there (serialized ones never do, however long it waits).
 */
function overlapWatch(expected: number) {
  const seen = { now: 0, most: 0 }
  const projection: Projection<'agent.heartbeat'> = {
    name: 'overlap-watch', handles: ['agent.heartbeat'], tables: [],
    async apply() {
      seen.most = Math.max(seen.most, ++seen.now)
      for (const until = Date.now() + 2_000; seen.most < expected && Date.now() < until;) await new Promise((r) => setTimeout(r, 10))
      seen.now--
    },
  }
  return { seen, projection }
}

t.test('two appliers overlap their transactions and store what one applier stores', async (t) => {
  const kafka = kafkaFor()
  const topic = uniqueName('appliers')
  const stream = mixedStream(topic, 24, 40)
  await produce(t, kafka, topic, stream)

  const runs: Record<number, Awaited<ReturnType<typeof dump>>> = {}
  for (const appliers of [1, 2]) {
    const { db } = await freshDatabase(t, { migrate: true })
    const watch = overlapWatch(appliers)
    const base = pipeline()
    const c = createIngestConsumer({
      kafka, db, groupId: uniqueName('g'), topics: [topic], appliers, chunkSize: 50,
      pipeline: { ...base, projections: [watch.projection, ...base.projections] }, backoff: { initialMs: 50, maxMs: 500 },
    })
    t.teardown(() => c.stop())
    await c.start()
    await waitFor(`${appliers} applier(s) caught up`, () => caughtUp(db, kafka, topic))
    await c.stop()
    t.equal(watch.seen.most, appliers, `${appliers} applier(s): at most ${appliers} transaction(s) at once, and that many did overlap`)
    runs[appliers] = await dump(db)
  }
  t.equal(runs[2]!.events.length, stream.unique.length, 'each unique valid event stored')
  t.ok(runs[2]!.events.every((e) => Number(e.n) === 1), 'none twice')
  t.same(runs[2], runs[1], 'two appliers store the same rows as one')
})
