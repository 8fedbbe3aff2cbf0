/**
 * Backpressure against the real broker: when the heartbeats' lane is full,
 * its partitions are paused instead of eachBatch waiting, so kafkajs' fetch
 * loop (which fetches again only when every batch of the last fetch was
 * handled) goes on for the urgent topics. The broker answers a fetch with a
 * producer batch or a few per partition, so urgent messages sent one by one
 * came in at one per take of the backlog while eachBatch waited (all 150
 * after all 19,245 backlog messages); paused, they overtake it. Paused
 * partitions resume: everything is stored once in the end.
 */
import t from 'tap'
import { freshDatabase } from '../helper-db.js'
import { connectedProducer, kafkaFor, uniqueName, waitFor } from '../helper-kafka.js'
import { createIngestConsumer } from '../../src/ingest/consumer.js'
import { newEvent } from '../../src/events/producer.js'
import { Metrics } from '../../src/metrics.js'
import { pipeline } from '../../src/wiring.js'
import { caughtUp, dump, produce } from './fixtures/steps.js'
import { mixedStream, uuidOf } from './fixtures/stream.js'

t.test('a full lane pauses its partitions: an urgent message overtakes the backlog, and the backlog is then stored whole', async (t) => {
  const { db } = await freshDatabase(t, { migrate: true })
  const kafka = kafkaFor()
  const bulk = uniqueName('bulk')
  const urgent = uniqueName('urgent')
  const stream = mixedStream(bulk, 40, 400)
  await produce(t, kafka, bulk, stream)
  // Urgent messages in many small producer batches, as a live stream's signals come: a fetch brings a few of them per partition.
  const producer = await connectedProducer(t, kafka)
  const URGENT = 150
  for (let i = 0; i < URGENT; i++) {
    const e = newEvent('instance.metrics', { eventId: uuidOf(`${urgent}:${i}`), occurredAt: new Date(Date.parse('2026-11-20T00:00:00Z') + i * 1000).toISOString(), clientId: uuidOf('c'), agentId: uuidOf('a'), data: { instanceId: 'i-0', cpu: 1, memory: 1, networkIn: i } })
    await producer.send({ topic: urgent, acks: -1, messages: [{ key: e.agentId, value: JSON.stringify(e) }] })
  }

  let bulkApplied = 0
  let urgentApplied = 0
  let bulkAtUrgent: number | undefined
  const metrics = new Metrics()
  let mostPaused = 0
  const c = createIngestConsumer({
    metrics,
    kafka, db, groupId: uniqueName('g'), topics: [bulk, urgent], urgentTopics: [urgent], pipeline: pipeline(),
    chunkSize: 50, maxQueued: 100, maxWaitTimeMs: 100, backoff: { initialMs: 50, maxMs: 500 },
    onApplied: (_r, batch) => {
      mostPaused = Math.max(mostPaused, metrics.pausedPartitions.get())
      if (batch.topic === bulk) bulkApplied += batch.messages.length
      else {
        urgentApplied += batch.messages.length
        if (urgentApplied === URGENT) bulkAtUrgent = bulkApplied
      }
    },
  })
  t.teardown(() => c.stop())
  await c.start()
  await waitFor('the urgent messages applied', () => bulkAtUrgent !== undefined, 120_000, 5)
  t.ok(bulkAtUrgent! < stream.messages.length / 4,
    `the ${URGENT} urgent messages were all applied after ${bulkAtUrgent} of the ${stream.messages.length} backlog messages, under a quarter`)

  await waitFor('the backlog stored', async () => (await caughtUp(db, kafka, bulk)) && caughtUp(db, kafka, urgent), 120_000)
  const d = await dump(db)
  t.ok(mostPaused > 0, `spotfleet_ingest_paused_partitions showed the backpressure (up to ${mostPaused})`)
  t.equal(metrics.pausedPartitions.get(), 0, 'and is 0 once the backlog is stored')
  t.equal(d.events.length, stream.unique.length + URGENT, 'every unique event stored: paused partitions were resumed')
  t.ok(d.events.every((e) => Number(e.n) === 1), 'none twice')
  t.equal(d.dead.length, stream.garbage, 'only the garbage dead-lettered')
})
