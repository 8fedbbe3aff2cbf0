/**
 * What a consumer instance reports about itself: its assignment (topic →
 * partitions) and the lag of each assigned partition (high watermark minus
 * the stored checkpoint), through /readyz and the spotfleet_consumer_lag
 * gauge of /metrics; with two instances in one group, each reports its own
 * share and a partition that moved away leaves no series behind.
 */
import t from 'tap'
import { createIngestConsumer, type IngestConsumer } from '../../src/ingest/consumer.js'
import type { Pipeline } from '../../src/log/core.js'
import type { Projection } from '../../src/log/projection.js'
import { EVENT_TYPES, type EventType } from '../../src/events/schemas.js'
import { Metrics } from '../../src/metrics.js'
import { pipeline } from '../../src/wiring.js'
import { buildApp } from '../helper-app.js'
import { kafkaFor, uniqueName, waitFor } from '../helper-kafka.js'
import { caughtUp, checkpoints, highWatermarks, produce } from './fixtures/steps.js'
import { mixedStream } from './fixtures/stream.js'

/** A projection that holds every transaction until the gate opens: the consumer falls behind on purpose. */
function gated(): { projection: Projection<EventType>, open(): void } {
  let open!: () => void
  const gate = new Promise<void>((resolve) => { open = resolve })
  return { projection: { name: 'gate', handles: EVENT_TYPES, tables: [], apply: () => gate }, open: () => open() }
}

t.test('assignment and lag in /readyz and /metrics, two instances splitting one topic', async (t) => {
  const kafka = kafkaFor()
  const topic = uniqueName('status')
  const groupId = uniqueName('g')
  const stream = mixedStream(topic, 8, 30)
  await produce(t, kafka, topic, stream)
  const gate = gated()
  const handlers: Pipeline = { ...pipeline(), projections: [gate.projection, ...pipeline().projections] }
  const metrics = new Metrics()
  const consumers: IngestConsumer[] = []
  const { app, db } = await buildApp(t, { metrics, consumerStatus: () => consumers[0]!.status() })
  const start = async (m?: Metrics) => {
    const c = createIngestConsumer({ kafka, db, groupId, topics: [topic], pipeline: handlers, chunkSize: 20, metrics: m, sessionTimeoutMs: 6_000 })
    t.teardown(() => c.stop())
    consumers.push(c)
    await c.start()
    await waitFor('joined', () => c.isReady(), 30_000)
    return c
  }

  const a = await start(metrics)
  const ready = await app.inject('/readyz')
  t.equal(ready.statusCode, 200)
  const body = ready.json()
  t.same(body.assignment, { [topic]: [0, 1, 2, 3] }, 'alone in the group: every partition')
  const high = await highWatermarks(kafka, topic)
  const stored = await checkpoints(db, topic)
  // Nothing committed yet (the gate holds the first transactions): lag is the whole partition.
  const expected = [0, 1, 2, 3].map((p) => ({ topic, partition: p, lag: Number(high.get(p)! - (stored.has(p) ? stored.get(p)! + 1n : 0n)) }))
  t.same(body.lag.partitions, expected, 'lag per partition: high watermark minus the stored checkpoint')
  t.equal(body.lag.total, expected.reduce((n, l) => n + l.lag, 0))
  t.ok(body.lag.total > 0, 'behind while the gate is shut')
  const scraped = (await app.inject('/metrics')).body
  for (const l of expected) t.match(scraped, new RegExp(`spotfleet_consumer_lag\\{topic="${topic}",partition="${l.partition}"\\} ${l.lag}\\n`))

  gate.open()
  await waitFor('caught up', () => caughtUp(db, kafka, topic), 60_000)
  const idle = (await app.inject('/readyz')).json()
  t.same(idle.lag, { total: 0, partitions: [0, 1, 2, 3].map((p) => ({ topic, partition: p, lag: 0 })) }, 'caught up: no lag')

  const b = await start()
  const split = await waitFor('the partitions split between the two', async () => {
    const [x, y] = [await a.status(), await b.status()]
    const [pa, pb] = [x.assignment[topic] ?? [], y.assignment[topic] ?? []]
    return pa.length > 0 && pb.length > 0 && pa.length + pb.length === 4 ? { sa: x, sb: y } : undefined
  }, 60_000)
  const { sa, sb } = split!
  t.same([...sa.assignment[topic]!, ...sb.assignment[topic]!].sort(), [0, 1, 2, 3], 'disjoint shares covering the topic')
  t.same((sa.lag ?? []).map((l) => l.partition), sa.assignment[topic], 'lag only for its own partitions')
  const after = (await app.inject('/metrics')).body
  const series = [...after.matchAll(new RegExp(`spotfleet_consumer_lag\\{topic="${topic}",partition="(\\d)"\\}`, 'g'))].map((m) => Number(m[1]))
  t.same(series, sa.assignment[topic], 'a partition that moved to the other instance has no series here')
})

t.test('/readyz without a consumer in the process: no assignment, no lag', async (t) => {
  const { app } = await buildApp(t)
  t.same((await app.inject('/readyz')).json(), { ready: true, database: true, consumer: true, assignment: {}, lag: { total: 0, partitions: [] }, relay: false })
})
