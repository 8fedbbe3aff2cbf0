/**
 * A topic that starts again: one database, two brokers in turn. The second
 * broker numbers every partition from 0 again, so the stored checkpoints are
 * ahead of it; each partition is started again from its beginning, with a
 * warning naming it and a count in the metrics, and nothing is skipped.
 * Retention that deleted messages the service never saw is warned about with
 * how many, and counted.
 */
import { Kafka, logLevel, type LogEntry } from 'kafkajs'
import type { Kysely } from 'kysely'
import t, { type Test } from 'tap'
import type { Database } from '../../src/db/database.js'
import { newEvent } from '../../src/events/producer.js'
import { createIngestConsumer, type IngestConsumer } from '../../src/ingest/consumer.js'
import { pipeline } from '../../src/wiring.js'
import { Metrics } from '../../src/metrics.js'
import { freshDatabase } from '../helper-db.js'
import { connectedProducer, kafkaFor, uniqueName, waitFor } from '../helper-kafka.js'
import { startMockBroker } from './fixtures/mock-broker.js'
import { caughtUp, highWatermarks } from './fixtures/steps.js'
import { uuidOf } from './fixtures/stream.js'

const PARTITIONS = [0, 1, 2, 3]

function metricsEvent(label: string, pad = 0) {
  const e = newEvent('instance.metrics', { eventId: uuidOf(label), clientId: uuidOf('client'), agentId: uuidOf(`agent:${label}`), data: { instanceId: 'i-1', cpu: 10, memory: 20 } })
  // Unknown keys are stripped on parsing: a padded event is still valid and small in event_log.
  return JSON.stringify(pad ? { ...e, padding: 'p'.repeat(pad) } : e)
}

/** A Kafka client whose warnings the test reads. */
function capturing(brokers: string[]): { kafka: Kafka, warnings: LogEntry['log'][] } {
  const warnings: LogEntry['log'][] = []
  const kafka = new Kafka({
    clientId: uniqueName('restart'), brokers, logLevel: logLevel.WARN, retry: { retries: 8, initialRetryTime: 100 },
    logCreator: () => ({ level, log }) => { if (level === logLevel.WARN) warnings.push(log) },
  })
  return { kafka, warnings }
}

async function run(t: Test, kafka: Kafka, db: Kysely<Database>, topic: string, groupId: string): Promise<{ consumer: IngestConsumer, metrics: Metrics }> {
  const metrics = new Metrics()
  const consumer = createIngestConsumer({ kafka, db, metrics, groupId, topics: [topic], pipeline: pipeline(), chunkSize: 50, backoff: { initialMs: 20, maxMs: 200 } })
  t.teardown(() => consumer.stop())
  await consumer.start()
  return { consumer, metrics }
}

async function storedCount(db: Kysely<Database>, ids: string[]): Promise<number> {
  return (await db.selectFrom('event_log').select('event_id').where('event_id', 'in', ids).execute()).length
}

t.test('a second broker numbering from 0 again: every partition starts again from its beginning, nothing skipped', async (t) => {
  const { db } = await freshDatabase(t, { migrate: true })
  const topic = uniqueName('again')
  const groupId = uniqueName('g')

  const first = kafkaFor()
  const p1 = await connectedProducer(t, first)
  await p1.send({ topic, acks: -1, messages: PARTITIONS.flatMap((partition) => Array.from({ length: 10 }, (_, i) => ({ partition, value: metricsEvent(`a:${partition}:${i}`) }))) })
  const a = await run(t, first, db, topic, groupId)
  await waitFor('the first broker consumed', () => caughtUp(db, first, topic))
  await a.consumer.stop()

  const broker = await startMockBroker(t)
  const { kafka: second, warnings } = capturing([broker.address])
  const p2 = await connectedProducer(t, second)
  const fresh = PARTITIONS.flatMap((partition) => Array.from({ length: 3 }, (_, i) => ({ partition, label: `b:${partition}:${i}` })))
  await p2.send({ topic, acks: -1, messages: fresh.map((m) => ({ partition: m.partition, value: metricsEvent(m.label) })) })
  const b = await run(t, second, db, topic, groupId)
  await waitFor('every event of the second broker stored', async () => (await storedCount(db, fresh.map((m) => uuidOf(m.label)))) === fresh.length)
  await waitFor('caught up on the second broker', () => caughtUp(db, second, topic))

  for (const partition of PARTITIONS) {
    t.equal(b.metrics.checkpointResets.get({ topic, partition: String(partition) }), 1, `partition ${partition}: one reset counted`)
    t.ok(warnings.some((w) => /checkpoint is ahead of the partition/.test(w.message) && w.topic === topic && w.partition === partition), `partition ${partition}: a warning names it`)
  }
  t.match(await b.metrics.text(), new RegExp(`spotfleet_checkpoint_resets_total\\{topic="${topic}",partition="0"\\} 1`))
  t.equal(b.metrics.messagesLost.get({ topic, partition: '0' }), 0, 'nothing lost')
})

t.test('retention deleted messages the service never saw: warned with how many, counted, the rest applied', async (t) => {
  const { db } = await freshDatabase(t, { migrate: true })
  const topic = uniqueName('retained')
  const groupId = uniqueName('g')
  const broker = await startMockBroker(t)
  const { kafka, warnings } = capturing([broker.address])
  const producer = await connectedProducer(t, kafka)

  await producer.send({ topic, acks: -1, messages: Array.from({ length: 5 }, (_, i) => ({ partition: 0, value: metricsEvent(`r:early:${i}`) })) })
  const a = await run(t, kafka, db, topic, groupId)
  await waitFor('the first messages consumed', () => caughtUp(db, kafka, topic))
  await a.consumer.stop()

  // The mock broker keeps about 5 MB per partition: eight sends of ~1 MB push the oldest out.
  const later: string[] = []
  for (let s = 0; s < 8; s++) {
    const labels = Array.from({ length: 10 }, (_, i) => `r:late:${s}:${i}`)
    later.push(...labels)
    await producer.send({ topic, acks: -1, messages: labels.map((l) => ({ partition: 0, value: metricsEvent(l, 100_000) })) })
  }
  const admin = kafka.admin()
  await admin.connect()
  t.teardown(() => admin.disconnect())
  const low = BigInt((await admin.fetchTopicOffsets(topic)).find((o) => o.partition === 0)!.low)
  t.ok(low > 5n, `the broker deleted messages (log starts at ${low})`)

  const b = await run(t, kafka, db, topic, groupId)
  await waitFor('caught up', () => caughtUp(db, kafka, topic))
  const expectedLost = Number(low) - 5
  t.equal(b.metrics.messagesLost.get({ topic, partition: '0' }), expectedLost, 'the deleted messages are counted')
  t.ok(warnings.some((w) => w.message === `retention deleted ${expectedLost} messages the service never saw` && w.topic === topic && w.partition === 0), 'a warning says how many')
  t.equal(b.metrics.checkpointResets.get({ topic, partition: '0' }), 0, 'not a reset')
  const high = (await highWatermarks(kafka, topic)).get(0)!
  t.equal(await storedCount(db, later.map((l) => uuidOf(l))), Number(high - low), 'every message still on the broker is stored')
})
