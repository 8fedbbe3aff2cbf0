/**
 * Events/s for a 100k-event stream through the real consumer (broker ->
 * kafkajs -> zod -> one transaction per chunk -> event_log + projections ->
 * checkpoint -> offset commit), next to the floor: mysql2 multi-row INSERTs
 * of the same event_log rows, in the same run. Prints its figures.
 *
 *   npm run bench:ingest            (EVENTS=100000 by default)
 *   PROJECTIONS=off npm run bench:ingest    (deciders only: the figure "all projections on" is compared with)
 *   PROJECTIONS=both npm run bench:ingest   (off, then on, in one run)
 */
import { randomUUID } from 'node:crypto'
import { Kafka, logLevel } from 'kafkajs'
import { sql } from 'kysely'
import { createDb } from '../src/db/connect.js'
import { ensureDatabase, migrateToLatest } from '../src/db/migrate.js'
import { newEvent } from '../src/events/producer.js'
import { partitionKeyOf, type SpotEvent } from '../src/events/schemas.js'
import { applyBatch } from '../src/log/apply-batch.js'
import { createIngestConsumer } from '../src/ingest/consumer.js'
import type { Pipeline } from '../src/log/core.js'
import { pipeline } from '../src/wiring.js'
import { toDbTime } from '../src/db/time.js'

const N = Number(process.env.EVENTS ?? 100_000)
const MODES = { on: ['on'], off: ['off'], both: ['off', 'on'] }[process.env.PROJECTIONS ?? 'on']
if (!MODES) throw new Error('PROJECTIONS is on, off or both')
/** The pipeline with all projections, or with none (the deciders still decide and log their decisions). */
const pipelineFor = (projections: string): Pipeline => (projections === 'on' ? pipeline() : { ...pipeline(), projections: [] })
const url = process.env.DATABASE_URL ?? 'mysql://root@127.0.0.1:3306/test'
const brokers = (process.env.KAFKA_BROKERS ?? '').split(',').filter(Boolean)
if (brokers.length === 0) throw new Error('KAFKA_BROKERS is not set (run through scripts/local-servers.sh run)')

function events(n: number): SpotEvent[] {
  const clientId = randomUUID()
  const agents = Array.from({ length: 200 }, () => randomUUID())
  const base = Date.parse('2026-11-01T00:00:00Z')
  return Array.from({ length: n }, (_, i) => {
    const agentId = agents[i % agents.length]!
    const occurredAt = new Date(base + i * 1000).toISOString()
    // Each agent registers first: the events of an agent that has not registered are parked.
    if (i < agents.length) {
      return newEvent('agent.registered', { clientId, agentId, occurredAt, data: { logicalAgentId: `agent-${i}`, instanceId: `i-${i}`, instanceType: 'm5.large', region: 'us-east-1', az: 'us-east-1a', mode: 'spot', hostname: `host-${i}`, spotPrice: '0.0345', onDemandPrice: '0.096' } })
    }
    if (i % 2 === 0) {
      return newEvent('agent.heartbeat', { clientId, agentId, occurredAt, data: { status: 'online', instanceId: `i-${i % 200}`, mode: 'spot', poolId: 'm5.large.us-east-1a', spotPrice: '0.0345', onDemandPrice: '0.096' } })
    }
    return newEvent('instance.metrics', { clientId, agentId, occurredAt, data: { instanceId: `i-${i % 200}`, cpu: i % 100, memory: (i * 7) % 100 } })
  })
}

async function freshDb(name: string) {
  const server = createDb({ url, database: '', connectionLimit: 1 })
  await sql`DROP DATABASE IF EXISTS ${sql.id(name)}`.execute(server)
  await ensureDatabase(server, name)
  await server.destroy()
  const db = createDb({ url, database: name, connectionLimit: 4 })
  await migrateToLatest(db)
  return db
}

async function floor(stream: SpotEvent[]): Promise<number> {
  const name = `bench_floor_${process.pid}`
  const db = await freshDb(name)
  const started = performance.now()
  for (let i = 0; i < stream.length; i += 500) {
    await db.insertInto('event_log').values(stream.slice(i, i + 500).map((e) => ({
      event_id: e.eventId, type: e.type, version: e.version, client_id: e.clientId, agent_id: e.agentId,
      occurred_at: toDbTime(e.occurredAt), payload: JSON.stringify(e), source: 'kafka', cause_event_id: null,
      topic: 'bench', partition_no: 0, offset_no: i,
    }))).execute()
  }
  const s = (performance.now() - started) / 1000
  await sql`DROP DATABASE ${sql.id(name)}`.execute(db)
  await db.destroy()
  return s
}

/** The database side alone: applyBatch over 500-message chunks, 4 partitions at once, no broker. */
async function applyOnly(stream: SpotEvent[], handlers: Pipeline): Promise<number> {
  const name = `bench_apply_${process.pid}`
  const db = await freshDb(name)
  const partitions = [0, 1, 2, 3].map((p) => stream.filter((_, i) => i % 4 === p)
    .map((e, offset) => ({ offset: String(offset), key: null, value: Buffer.from(JSON.stringify(e)) })))
  const started = performance.now()
  await Promise.all(partitions.map(async (messages, partition) => {
    for (let i = 0; i < messages.length; i += 500) {
      await applyBatch(db, { topic: 'bench', partition, messages: messages.slice(i, i + 500) }, handlers)
    }
  }))
  const s = (performance.now() - started) / 1000
  await sql`DROP DATABASE ${sql.id(name)}`.execute(db)
  await db.destroy()
  return s
}

/**
 * The mock broker keeps only the newest messages of a partition, so the
 * consumer is started first and the stream produced while it consumes, never
 * more than 8k ahead; the clock runs from the first produce to the last event
 * applied.
 */
async function throughConsumer(stream: SpotEvent[], handlers: Pipeline): Promise<{ seconds: number, produceSeconds: number }> {
  const name = `bench_consumer_${process.pid}`
  const db = await freshDb(name)
  const kafka = new Kafka({ clientId: 'bench', brokers, logLevel: logLevel.NOTHING })
  const topic = `bench-${randomUUID().slice(0, 8)}`
  const producer = kafka.producer({ allowAutoTopicCreation: true })
  await producer.connect()
  await producer.send({ topic, messages: [{ key: 'warm-up', value: 'not an event' }] }) // creates the topic

  let applied = 0
  let resolveDone!: () => void
  const done = new Promise<void>((r) => { resolveDone = r })
  const consumer = createIngestConsumer({
    kafka, db, groupId: `bench-${topic}`, topics: [topic], pipeline: handlers, chunkSize: 500,
    partitionsConsumedConcurrently: 4,
    onApplied: (r) => { applied += r.applied.length; if (applied >= stream.length) resolveDone() },
  })
  await consumer.start()
  while (!consumer.isReady()) await new Promise((r) => setTimeout(r, 50))

  const started = performance.now()
  for (let i = 0; i < stream.length; i += 2000) {
    // Backpressure: the broker would drop a backlog larger than it keeps.
    while (i - applied > 8000) await new Promise((r) => setTimeout(r, 5))
    await producer.send({ topic, acks: -1, messages: stream.slice(i, i + 2000).map((e) => ({ key: partitionKeyOf(e), value: JSON.stringify(e) })) })
  }
  const produceSeconds = (performance.now() - started) / 1000
  const timeout = setTimeout(() => { console.error(`stuck at ${applied} of ${stream.length} applied`); process.exit(1) }, 300_000)
  await done
  clearTimeout(timeout)
  const seconds = (performance.now() - started) / 1000
  await producer.disconnect()
  await consumer.stop()
  await sql`DROP DATABASE ${sql.id(name)}`.execute(db)
  await db.destroy()
  return { seconds, produceSeconds }
}

const stream = events(N)
const floorSeconds = await floor(stream)
const rate = (s: number) => Math.round(N / s).toLocaleString('en-US')
console.log(`events:                         ${N.toLocaleString('en-US')}`)
console.log(`floor (mysql2 multi-row INSERT into event_log, 500/statement): ${floorSeconds.toFixed(2)} s  ${rate(floorSeconds)} events/s`)
for (const mode of MODES) {
  const handlers = pipelineFor(mode)
  const applySeconds = await applyOnly(stream, handlers)
  const c = await throughConsumer(stream, handlers)
  console.log(`projections ${mode}:`)
  console.log(`  applyBatch alone (parse + event_log + rules + projections + checkpoint, 4 partitions): ${applySeconds.toFixed(2)} s  ${rate(applySeconds)} events/s`)
  console.log(`  consumer (fetch + parse + event_log + rules + projections + checkpoint + commit): ${c.seconds.toFixed(2)} s  ${rate(c.seconds)} events/s`)
  console.log(`    (produced concurrently, by the same process, in ${c.produceSeconds.toFixed(2)} s)`)
  console.log(`  consumer / floor: ${(floorSeconds / c.seconds * 100).toFixed(0)} %`)
}
