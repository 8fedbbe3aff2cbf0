/**
 * Sizes: statements are cut by bytes as well as rows, so a chunk of large
 * messages stays under the server's max_allowed_packet; a message too big to
 * keep is a dead letter with a clear reason and the partition goes on. The
 * same event id arriving on two partitions at once is a duplicate, not a
 * refusal.
 */
import { randomUUID } from 'node:crypto'
import { sql } from 'kysely'
import t from 'tap'
import { newEvent } from '../../src/events/producer.js'
import { EVENT_TYPES, type EventType } from '../../src/events/schemas.js'
import { createIngestConsumer } from '../../src/ingest/consumer.js'
import { pipeline } from '../../src/wiring.js'
import { applyBatch } from '../../src/log/apply-batch.js'
import type { Decider } from '../../src/log/decider.js'
import type { Pipeline } from '../../src/log/core.js'
import { Metrics } from '../../src/metrics.js'
import { freshDatabase } from '../helper-db.js'
import { connectedProducer, kafkaFor, uniqueName, waitFor } from '../helper-kafka.js'
import { caughtUp } from './fixtures/steps.js'

const MiB = 1024 * 1024

function metricsEvent(agentId = randomUUID()) {
  return newEvent('instance.metrics', { clientId: randomUUID(), agentId, data: { instanceId: 'i-1', cpu: 10, memory: 20 } })
}

t.test('two 9 MB messages in one batch are dead-lettered whole; one bigger than the column keeps its reason; the partition goes on', async (t) => {
  const { db } = await freshDatabase(t, { migrate: true })
  const kafka = kafkaFor()
  const topic = uniqueName('sizes')
  const producer = await connectedProducer(t, kafka)
  const big = (fill: string) => `{"eventId":"${fill.repeat(9 * MiB)}"}`
  const after = metricsEvent()
  const last = metricsEvent()
  // One send to one partition: the broker hands them to the consumer in one batch.
  await producer.send({
    topic, acks: -1,
    messages: [{ partition: 0, value: big('a') }, { partition: 0, value: big('b') }, { partition: 0, value: JSON.stringify(after) }],
  })
  const metrics = new Metrics()
  const c = createIngestConsumer({ kafka, db, metrics, groupId: uniqueName('g'), topics: [topic], pipeline: pipeline(), backoff: { initialMs: 20, maxMs: 200 } })
  t.teardown(() => c.stop())
  await c.start()
  await waitFor('the 9 MB messages', () => caughtUp(db, kafka, topic), 60_000)
  // Another partition: the mock broker keeps ~5 MB per partition, and on a
  // second big append it drops both, the new one included.
  await producer.send({ topic, acks: -1, messages: [{ partition: 1, value: 'x'.repeat(17 * MiB) }, { partition: 1, value: JSON.stringify(last) }] })
  await waitFor('the 17 MB message', () => caughtUp(db, kafka, topic), 60_000)

  t.equal(metrics.retries.get(), 0, 'nothing was retried')
  const dead = (await sql<{ offset_no: number, len: number | null, reason: string }>`
    SELECT offset_no, LENGTH(raw_value) AS len, reason FROM dead_letter_events WHERE topic = ${topic} ORDER BY partition_no, offset_no`.execute(db)).rows
  t.equal(dead.length, 3, 'three dead letters')
  t.equal(Number(dead[0]!.len), Buffer.byteLength(big('a')), 'the first 9 MB message is kept whole')
  t.equal(Number(dead[1]!.len), Buffer.byteLength(big('b')), 'so is the second')
  t.match(dead[0]!.reason, /^schema: /)
  t.equal(dead[2]!.len, null, 'the 17 MB message is not kept')
  t.match(dead[2]!.reason, /^invalid JSON.*raw value of 17825792 bytes not kept/)
  const stored = await db.selectFrom('event_log').select('event_id').where('event_id', 'in', [after.eventId, last.eventId]).execute()
  t.equal(stored.length, 2, 'the events after them are stored')
})

t.test('the same event id on two partitions at once is a duplicate, not a refusal', async (t) => {
  const { db } = await freshDatabase(t, { migrate: true })
  const topic = uniqueName('twice')
  const e = metricsEvent()
  // Both transactions pass their existence check before either inserts.
  let arrived = 0
  let open!: () => void
  const barrier = new Promise<void>((resolve) => { open = resolve })
  const meet: Decider<EventType> = {
    name: 'meet-at-the-barrier', handles: EVENT_TYPES,
    async lock() { if (++arrived === 2) open(); await barrier },
    async decide() { return new Map() },
  }
  const handlers: Pipeline = { ...pipeline(), deciders: [meet, ...pipeline().deciders] }
  const message = { offset: '0', key: null, value: Buffer.from(JSON.stringify(e)) }
  const results = await Promise.all([0, 1].map((partition) => applyBatch(db, { topic, partition, messages: [message] }, handlers)))
  t.same(results.map((r) => r.applied.length).sort(), [0, 1], 'applied once')
  t.same(results.map((r) => r.duplicates).sort(), [0, 1], 'the other one counts it as a duplicate')
  t.same(results.map((r) => r.deadLettered), [0, 0], 'nothing dead-lettered')
  t.equal((await db.selectFrom('event_log').select('seq').where('event_id', '=', e.eventId).execute()).length, 1)
  const cps = await db.selectFrom('consumer_checkpoints').select(['partition_no', 'offset_no']).where('topic', '=', topic).orderBy('partition_no').execute()
  t.same(cps.map((c) => Number(c.offset_no)), [0, 0], 'both partitions move on')
})
