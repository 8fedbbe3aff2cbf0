/**
 * Ingest throughput and decision latency on a realistic fleet (bench/ingest-mix.ts).
 *
 *   npm run bench:ingest                       backlog: 100k mixed events from 1,000 agents
 *   npm run bench:ingest -- --mode live        live: 5k events/s in batches every 25 ms for 30 s
 *   options: --events N --agents N --mix heartbeat=.55,pricing=.38,rebalance=.05,termination=.02
 *            --chunk N --transaction-ms N --concurrency N --appliers N --produce-batch N --projections on|off (backlog) --rate N --seconds N --batch-ms N (live) --json
 *
 * Backlog: the consumer of src/ingest/consumer.ts (every decider and
 * projection of src/wiring.ts) in this process, with its statements counted
 * in the client (every round trip, BEGIN and COMMIT included). The mock
 * broker keeps about 5 MB per partition, so 60k events are produced before
 * the clock starts and the rest is topped up while the consumer runs, never
 * more than 60k ahead: the consumer always has a backlog. The clock runs from
 * its first fetched batch to the commit of the last event. Floors, same run,
 * same machine: a bare kafkajs consumer group reading the first 60k of the
 * same messages, and mysql2 multi-row INSERTs (500 rows a statement, one
 * transaction each) of the same events' event_log rows; then every row the
 * service committed (all tables), inserted the same way into an empty database.
 *
 * Live: `spotfleet serve` as a child process (consumer, outbox relay), fed
 * by a producer here at a set rate in small batches, with this process
 * answering replica-commands as the agents would. Reports the sustained rate,
 * the consumer group's lag every second, and the decision latency:
 * termination notice produced -> its command on replica-commands (the
 * command's CreateTime, set by the relay's send), and -> read by the agents'
 * consumer here (which adds its own fetch wait: tens of ms on the mock
 * broker). With --in-process, also where the time went: produced -> the
 * notice's transaction committed -> on the topic.
 */
import { spawn } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { createServer } from 'node:net'
import { pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import { Kafka, logLevel, Partitioners, type Producer } from 'kafkajs'
import { type Kysely, sql } from 'kysely'
import { createDb } from '../src/db/connect.js'
import type { Database } from '../src/db/database.js'
import { ensureDatabase, migrateToLatest } from '../src/db/migrate.js'
import { toKafkaMessage } from '../src/events/producer.js'
import { EventSchema, type SpotEvent, TOPIC_OF, type Topics, inputTopics } from '../src/events/schemas.js'
import { createIngestConsumer } from '../src/ingest/consumer.js'
import { CONSUMER_DEFAULTS } from '../src/ingest/consumer-settings.js'
import { createOutboxRelay, leftForRelay } from '../src/ingest/outbox-relay.js'
import { Metrics } from '../src/metrics.js'
import { logRowOf } from '../src/log/stored-event.js'
import { pipeline } from '../src/wiring.js'
import { DEFAULT_MIX, FleetStream, type Mix, parseMix } from './ingest-mix.js'
import { type Digest, StatementCounter } from './statements.js'

const url = process.env.DATABASE_URL ?? 'mysql://root@127.0.0.1:3306/test'
const brokers = () => {
  const b = (process.env.KAFKA_BROKERS ?? '').split(',').filter(Boolean)
  if (b.length === 0) throw new Error('KAFKA_BROKERS is not set (run through scripts/local-servers.sh run)')
  return b
}
const kafkaClient = (id: string) => new Kafka({ clientId: id, brokers: brokers(), logLevel: logLevel.NOTHING })
const WINDOW = 60_000
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const perSec = (n: number, s: number) => Math.round(n / s)

async function freshDb(name: string, onStatement?: (s: string, ms: number) => void): Promise<Kysely<Database>> {
  const server = createDb({ url, database: '', connectionLimit: 1 })
  await sql`DROP DATABASE IF EXISTS ${sql.id(name)}`.execute(server)
  await ensureDatabase(server, name)
  await server.destroy()
  const db = createDb({ url, database: name, connectionLimit: 10 })
  await migrateToLatest(db)
  await db.destroy()
  return createDb({ url, database: name, connectionLimit: 10, onStatement })
}

/** The appliers of the live run's service, in process or not (`serve` reads INGEST_APPLIERS from the environment it inherits). */
const liveAppliers = () => Number(process.env.INGEST_APPLIERS ?? CONSUMER_DEFAULTS.appliers)

/** innodb_buffer_pool_size in MB: below the hot pages of the agent-keyed indexes, a live run falls behind once they outgrow it (README). */
async function bufferPoolMb(db: Kysely<Database>): Promise<number> {
  const { rows } = await sql<{ mb: number | string }>`SELECT @@innodb_buffer_pool_size / 1048576 AS mb`.execute(db)
  return Math.round(Number(rows[0]?.mb ?? 0))
}

async function dropDb(db: Kysely<Database>, name: string): Promise<void> {
  await sql`DROP DATABASE IF EXISTS ${sql.id(name)}`.execute(db)
  await db.destroy()
}

function randomTopics(): Topics {
  const tag = randomUUID().slice(0, 8)
  return { spotInterruptions: `bench-si-${tag}`, replicaEvents: `bench-re-${tag}`, agentEvents: `bench-ae-${tag}`, pricingSnapshots: `bench-ps-${tag}`, replicaCommands: `bench-rc-${tag}` }
}

async function send(producer: Producer, topics: Topics, events: readonly SpotEvent[]): Promise<void> {
  const byTopic = new Map<string, ReturnType<typeof toKafkaMessage>[]>()
  for (const e of events) {
    const t = topics[TOPIC_OF[e.type]]
    byTopic.set(t, [...byTopic.get(t) ?? [], toKafkaMessage(e)])
  }
  if (byTopic.size > 0) await producer.sendBatch({ acks: -1, topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })) })
}

async function connectedProducer(kafka: Kafka): Promise<Producer> {
  const p = kafka.producer({ allowAutoTopicCreation: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner })
  await p.connect()
  return p
}

/** The backlog stream: registrations, then the mix, in event time ending now. */
export function backlogStream(events: number, agents: number, mix: Mix): SpotEvent[] {
  const f = new FleetStream({ agents, mix })
  const step = f.msPerEvent()
  const start = Date.now() - events * step
  const out: SpotEvent[] = f.registrations(start)
  for (let i = out.length; i < events; i++) out.push(f.next(start + i * step))
  return out.slice(0, events)
}

interface Rate { events: number, seconds: number, perSec: number }

/** A bare kafkajs group over the first WINDOW messages: from the first batch to the last message. */
async function kafkaFloor(stream: readonly SpotEvent[]): Promise<Rate> {
  const kafka = kafkaClient('bench-floor')
  const topics = randomTopics()
  const producer = await connectedProducer(kafka)
  const n = Math.min(stream.length, WINDOW)
  for (let i = 0; i < n; i += 2000) await send(producer, topics, stream.slice(i, Math.min(n, i + 2000)))
  await producer.disconnect()
  const consumer = kafka.consumer({ groupId: `bench-floor-${randomUUID()}`, maxWaitTimeInMs: 100 })
  let seen = 0
  let first = 0
  let done!: () => void
  const finished = new Promise<void>((r) => { done = r })
  await consumer.connect()
  for (const topic of inputTopics(topics)) await consumer.subscribe({ topic, fromBeginning: true })
  await consumer.run({
    autoCommit: false, partitionsConsumedConcurrently: 4,
    eachBatch: async ({ batch }) => {
      first ||= performance.now()
      seen += batch.messages.length
      await consumer.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: (BigInt(batch.lastOffset()) + 1n).toString() }])
      if (seen >= n) done()
    },
  })
  await finished
  const seconds = (performance.now() - first) / 1000
  await consumer.disconnect()
  return { events: n, seconds, perSec: perSec(n, seconds) }
}

/** mysql2 multi-row INSERTs, `per` rows a statement, each in its own transaction. */
async function insertAll(db: Kysely<Database>, table: string, rows: readonly Record<string, unknown>[], per = 500): Promise<void> {
  for (let i = 0; i < rows.length; i += per) {
    const chunk = rows.slice(i, i + per)
    const cols = Object.keys(chunk[0]!)
    await db.transaction().execute((trx) => sql`INSERT INTO ${sql.table(table)} (${sql.join(cols.map((c) => sql.ref(c)))}) VALUES ${sql.join(chunk.map((r) => sql`(${sql.join(cols.map((c) => r[c]))})`))}`.execute(trx))
  }
}

/** The same events' event_log rows, inserted as fast as mysql2 does it. */
async function insertFloor(stream: readonly SpotEvent[]): Promise<Rate> {
  const name = `bench_floor_${process.pid}`
  const db = await freshDb(name)
  const rows = stream.map((e, i) => logRowOf(e, 'kafka', { position: { topic: 'bench', partition: 0, offset: String(i) } }))
  const started = performance.now()
  await insertAll(db, 'event_log', rows)
  const seconds = (performance.now() - started) / 1000
  await dropDb(db, name)
  return { events: stream.length, seconds, perSec: perSec(stream.length, seconds) }
}

/** Every row the service committed in `source` (all tables but the migrations'), inserted into an empty database. */
async function allRowsFloor(source: Kysely<Database>, events: number): Promise<Rate & { rows: number, perTable: Record<string, { rows: number, ms: number }> }> {
  const name = `bench_rows_${process.pid}`
  const db = await freshDb(name)
  const { rows: cols } = await sql<{ t: string, c: string }>`SELECT table_name AS t, column_name AS c FROM information_schema.columns
    WHERE table_schema = DATABASE() AND extra NOT LIKE '%GENERATED%' AND table_name IN (SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE')
    ORDER BY table_name, ordinal_position`.execute(source)
  const byTable = new Map<string, string[]>()
  for (const { t, c } of cols) byTable.set(t, [...byTable.get(t) ?? [], c])
  const data: [string, Record<string, unknown>[]][] = []
  for (const [t, c] of byTable) {
    if (/migration|replay_gate|kysely/.test(t)) continue
    const { rows } = await sql<Record<string, unknown>>`SELECT ${sql.join(c.map((x) => sql.ref(x)))} FROM ${sql.table(t)}`.execute(source)
    if (rows.length > 0) data.push([t, rows])
  }
  let total = 0
  const started = performance.now()
  const perTable: Record<string, { rows: number, ms: number }> = {}
  for (const [t, rows] of data) {
    // Tables are written in full (a fresh database), so their keys cannot collide.
    await sql`DELETE FROM ${sql.table(t)}`.execute(db)
    const t0 = performance.now()
    await insertAll(db, t, rows)
    perTable[t] = { rows: rows.length, ms: Math.round(performance.now() - t0) }
    total += rows.length
  }
  const seconds = (performance.now() - started) / 1000
  await dropDb(db, name)
  return { events, rows: total, seconds, perSec: perSec(events, seconds), perTable }
}

export interface BacklogOptions { events: number, agents: number, mix: Mix, chunkSize: number, transactionMs: number, concurrency: number, appliers: number, allRows: boolean, produceBatch: number, projections: boolean }
export interface BacklogResult {
  options: BacklogOptions
  service: Rate
  floors: { kafkajs: Rate, insert: Rate, allRows?: Rate & { rows: number, perTable: Record<string, { rows: number, ms: number }> } }
  /** Of the lower of the kafkajs and event_log INSERT floors. */
  percentOfLowerFloor: number
  /** Partition batches applied (onApplied calls) and transactions (COMMITs). */
  batches: number
  transactions: number
  statementsPerTransaction: number
  statements: Record<string, Digest>
  deadLetters: number
}

/** The service's consumer over the backlog, statements counted. */
export async function runBacklog(o: BacklogOptions): Promise<BacklogResult> {
  const stream = backlogStream(o.events, o.agents, o.mix)
  const kafkajs = await kafkaFloor(stream)
  const insert = await insertFloor(stream)

  const counter = new StatementCounter()
  const name = `bench_ingest_${process.pid}`
  const db = await freshDb(name, (s, ms) => counter.add(s, ms))
  const kafka = kafkaClient('bench-ingest')
  const topics = randomTopics()
  const producer = await connectedProducer(kafka)
  let applied = 0
  let batches = 0
  let first = 0
  let resolveDone!: () => void
  const done = new Promise<void>((r) => { resolveDone = r })
  const step = o.produceBatch
  for (let i = 0; i < Math.min(WINDOW, stream.length); i += step) await send(producer, topics, stream.slice(i, Math.min(WINDOW, i + step)))
  let produced = Math.min(WINDOW, stream.length)
  const consumer = createIngestConsumer({
    // Without projections: the figure "every projection on" is compared with (the deciders still decide and log).
    kafka, db, groupId: `bench-${randomUUID()}`, topics: inputTopics(topics), pipeline: o.projections ? pipeline() : { ...pipeline(), projections: [] },
    chunkSize: o.chunkSize, transactionMs: o.transactionMs, partitionsConsumedConcurrently: o.concurrency, appliers: o.appliers, urgentTopics: [topics.spotInterruptions, topics.replicaEvents],
    onApplied: (_r, b) => {
      first ||= performance.now()
      batches++
      applied += b.messages.length
      if (applied >= stream.length) resolveDone()
    },
  })
  counter.reset()
  await consumer.start()
  const timeout = setTimeout(() => { console.error(`stuck at ${applied} of ${stream.length} applied`); process.exit(1) }, 600_000)
  while (produced < stream.length) {
    if (produced - applied > WINDOW - step) { await sleep(20); continue }
    const next = Math.min(stream.length, produced + step)
    await send(producer, topics, stream.slice(produced, next))
    produced = next
  }
  await done
  const seconds = (performance.now() - first) / 1000
  clearTimeout(timeout)
  const statements = counter.snapshot()
  await consumer.stop()
  await producer.disconnect()
  const dead = await db.selectFrom('dead_letter_events').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()
  const allRows = o.allRows ? await allRowsFloor(db, stream.length) : undefined
  await dropDb(db, name)
  const service = { events: stream.length, seconds, perSec: perSec(stream.length, seconds) }
  const total = Object.values(statements).reduce((a, b) => a + b.n, 0)
  const transactions = statements.commit?.n ?? 0
  return {
    options: o, service, floors: { kafkajs, insert, allRows },
    percentOfLowerFloor: Math.round(100 * service.perSec / Math.min(kafkajs.perSec, insert.perSec)),
    batches, transactions, statementsPerTransaction: Math.round(10 * total / Math.max(1, transactions)) / 10, statements, deadLetters: Number(dead.n),
  }
}

export interface LiveOptions { rate: number, seconds: number, agents: number, mix: Mix, batchMs: number, /** The consumer and relay in this process, statements counted (a diagnosis: they share its event loop with the producer). */ inProcess?: boolean }
export interface LiveResult {
  options: LiveOptions
  produced: number
  /** Committed by the consumer group during the timed window, per second. */
  sustainedPerSec: number
  lag: { max: number, end: number, drainSeconds: number, perSecond: number[] }
  /** Notice produced -> the command on the commands topic (its CreateTime: the relay's send), the issue's measure. */
  promote: Latency
  emergency: Latency
  /** Notice produced -> the promote command read by the agents' consumer here (adds that consumer's fetch wait). */
  promoteSeen: Latency
  /** In-process only: where a promote's time went: produced -> the notice's transaction committed -> on the topic. */
  stages?: { committed: Latency, published: Latency }
  /** Commands seen on replica-commands, by type. */
  commands: Record<string, number>
  /** Agents with a ready replica when the timed window began. */
  readyAtStart: number
  /** The server's InnoDB buffer pool (MB) and the service's appliers: the figures depend on both. */
  bufferPoolMb: number
  appliers: number
  /** The service's transactions in the timed window (its /metrics): how many, and their mean size and time. */
  transactions: { n: number, meanEvents: number, meanMs: number }
  statements?: Record<string, Digest>
}

/** The consumer and the outbox relay as serve wires them, in this process, with a statement counter. */
async function inProcessService(kafka: Kafka, name: string, topics: Topics, groupId: string, counter: StatementCounter, onNotice: (agentId: string) => void) {
  const db = createDb({ url, database: name, connectionLimit: 10, onStatement: (s, ms) => counter.add(s, ms) })
  const metrics = new Metrics()
  const producer = await connectedProducer(kafka)
  const relay = createOutboxRelay({ db, producer, commandsTopic: topics.replicaCommands, log: kafka.logger(), metrics })
  const consumer = createIngestConsumer({ kafka, db, metrics, groupId, topics: inputTopics(topics), pipeline: pipeline(), maxWaitTimeMs: 50, appliers: liveAppliers(), urgentTopics: [topics.spotInterruptions, topics.replicaEvents], onApplied: (r) => {
    for (const e of r.applied) if (e.type === 'spot.termination_notice') onNotice(e.agentId)
    if (leftForRelay(r)) relay.wake(r.deadLettered > 0)
  } })
  relay.start()
  await consumer.start()
  return {
    metrics,
    async stop() { await consumer.stop(); await relay.stop(); await producer.disconnect(); await db.destroy() },
  }
}
export interface Latency { n: number, p50: number, p99: number, max: number }

const latency = (xs: number[]): Latency => {
  const s = [...xs].sort((a, b) => a - b)
  const at = (q: number) => (s.length === 0 ? 0 : Math.round(s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]!))
  return { n: s.length, p50: at(0.5), p99: at(0.99), max: at(1) }
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const a = s.address()
      s.close(() => (a && typeof a === 'object' ? resolve(a.port) : reject(new Error('no port'))))
    })
  })
}

/** `spotfleet serve` on a fresh database, fed at `rate` events/s; this process plays the agents. */
export async function runLive(o: LiveOptions): Promise<LiveResult> {
  const name = `bench_live_${process.pid}`
  const db = await freshDb(name)
  const topics = randomTopics()
  const groupId = `bench-live-${randomUUID()}`
  const dbUrl = new URL(url)
  dbUrl.pathname = `/${name}`
  // SERVE_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" profiles the service.
  const port = await freePort()
  const child = o.inProcess ? undefined : spawn(process.execPath, [...(process.env.SERVE_NODE_ARGS ?? '').split(' ').filter(Boolean), 'dist/src/bin.js', 'serve'], {
    stdio: ['ignore', 'inherit', 'inherit'],
    env: {
      // A fetch that finds nothing waits this long on the mock broker even when data arrives meanwhile (README).
      KAFKA_FETCH_MAX_WAIT_MS: '50',
      ...process.env, DATABASE_URL: dbUrl.toString(), KAFKA_GROUP_ID: groupId, PORT: String(port), LOG_LEVEL: 'warn',
      TOPIC_SPOT_INTERRUPTIONS: topics.spotInterruptions, TOPIC_REPLICA_EVENTS: topics.replicaEvents,
      TOPIC_AGENT_EVENTS: topics.agentEvents, TOPIC_PRICING_SNAPSHOTS: topics.pricingSnapshots, TOPIC_REPLICA_COMMANDS: topics.replicaCommands,
    },
  })
  const exited = new Promise<void>((r) => (child ? child.once('exit', () => r()) : r()))
  const kafka = kafkaClient('bench-live')
  const counter = new StatementCounter()
  // In process: when each agent's latest notice was committed (onApplied runs right after the commit).
  const committedAt = new Map<string, number>()
  const local = o.inProcess ? await inProcessService(kafka, name, topics, groupId, counter, (agentId) => committedAt.set(agentId, Date.now())) : undefined
  const admin = kafka.admin()
  await admin.connect()
  const producer = await connectedProducer(kafka)
  const fleet = new FleetStream({ agents: o.agents, mix: o.mix })
  const answers: SpotEvent[] = []
  const samples = { promote: [] as number[], emergency: [] as number[], promoteSeen: [] as number[], committed: [] as number[], published: [] as number[] }
  let timing = false
  const commandsSeen: Record<string, number> = {}
  const commands = kafka.consumer({ groupId: `bench-agents-${randomUUID()}`, maxWaitTimeInMs: 10 })
  await commands.connect()
  await commands.subscribe({ topic: topics.replicaCommands, fromBeginning: true })
  await commands.run({
    eachMessage: async ({ message }) => {
      const now = Date.now()
      const r = EventSchema.safeParse(JSON.parse(String(message.value)))
      if (!r.success) return
      const c = r.data
      commandsSeen[c.type] = (commandsSeen[c.type] ?? 0) + 1
      const noticed = fleet.noticed.get(c.agentId)
      if (noticed !== undefined && (c.type === 'command.promote_replica' || c.type === 'command.emergency_snapshot')) {
        fleet.noticed.delete(c.agentId)
        // CreateTime: set by the relay's producer when it sent the command (kafkajs), the broker's append follows within its round trip.
        const onTopic = Number(message.timestamp)
        const committed = committedAt.get(c.agentId)
        if (timing && c.type === 'command.promote_replica') {
          samples.promote.push(onTopic - noticed)
          samples.promoteSeen.push(now - noticed)
          if (committed !== undefined) { samples.committed.push(committed - noticed); samples.published.push(onTopic - committed) }
        }
        if (timing && c.type === 'command.emergency_snapshot') samples.emergency.push(onTopic - noticed)
      }
      answers.push(...fleet.answer(c, now))
    },
  })
  const lagNow = async (): Promise<{ lag: number, committed: number }> => {
    let lag = 0
    let committed = 0
    const offsets = await admin.fetchOffsets({ groupId, topics: inputTopics(topics) })
    for (const t of offsets) {
      const high = new Map((await admin.fetchTopicOffsets(t.topic)).map((p) => [p.partition, Number(p.high)]))
      for (const p of t.partitions) {
        const c = Math.max(0, Number(p.offset))
        committed += c
        lag += (high.get(p.partition) ?? 0) - c
      }
    }
    return { lag, committed }
  }
  try {
    // Warm-up: every agent registers and gets a ready replica through a rebalance recommendation.
    await send(producer, topics, [...fleet.pricingRound(Date.now()), ...fleet.registrations(Date.now())])
    await sleep(2000)
    await send(producer, topics, fleet.agents.map((a) => ({
      eventId: randomUUID(), version: 1 as const, type: 'spot.rebalance_recommendation' as const, occurredAt: new Date().toISOString(),
      clientId: fleet.clientId, agentId: a.id, data: { instanceId: a.instanceId, poolId: a.pool.id },
    })))
    for (let i = 0; i < 600 && fleet.agents.filter((a) => a.replicas.size > 0).length < o.agents * 0.95; i++) {
      await send(producer, topics, answers.splice(0))
      await sleep(100)
    }
    await send(producer, topics, answers.splice(0))
    while ((await lagNow()).lag > 0) await sleep(200)

    const readyAtStart = fleet.agents.filter((a) => a.replicas.size > 0).length
    const scrape = async () => {
      const text = local ? await local.metrics.registry.metrics() : await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()
      const sum = (name: string) => [...text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? ([\\d.e+-]+)$`, 'gm'))].reduce((a, m) => a + Number(m[1]), 0)
      return { batches: sum('spotfleet_batches_total'), seconds: sum('spotfleet_batch_apply_seconds_total'), events: sum('spotfleet_events_consumed_total') }
    }
    const m0 = await scrape()
    counter.reset()
    const start = await lagNow()
    const perBatch = o.rate * o.batchMs / 1000
    const lags: number[] = []
    let produced = 0
    let owed = 0
    timing = true
    const t0 = Date.now()
    let nextLag = t0 + 1000
    for (let tick = 1; Date.now() - t0 < o.seconds * 1000; tick++) {
      owed += perBatch
      const batch: SpotEvent[] = answers.splice(0)
      const now = Date.now()
      for (; owed >= 1; owed--) batch.push(fleet.next(now))
      produced += batch.length
      await send(producer, topics, batch)
      if (Date.now() >= nextLag) { lags.push((await lagNow()).lag); nextLag += 1000 }
      const wait = t0 + tick * o.batchMs - Date.now()
      if (wait > 0) await sleep(wait)
    }
    const elapsed = (Date.now() - t0) / 1000
    const end = await lagNow()
    const m1 = await scrape()
    timing = false
    const drainStart = Date.now()
    while ((await lagNow()).lag > 0 && Date.now() - drainStart < 120_000) await sleep(250)
    return {
      options: o, produced, sustainedPerSec: perSec(end.committed - start.committed, elapsed),
      lag: { max: Math.max(0, ...lags), end: end.lag, drainSeconds: (Date.now() - drainStart) / 1000, perSecond: lags },
      promote: latency(samples.promote), emergency: latency(samples.emergency), promoteSeen: latency(samples.promoteSeen),
      stages: o.inProcess ? { committed: latency(samples.committed), published: latency(samples.published) } : undefined,
      commands: commandsSeen, readyAtStart,
      bufferPoolMb: await bufferPoolMb(db), appliers: liveAppliers(),
      statements: o.inProcess ? counter.snapshot() : undefined,
      transactions: { n: m1.batches - m0.batches, meanEvents: Math.round((m1.events - m0.events) / Math.max(1, m1.batches - m0.batches)), meanMs: Math.round(1000 * (m1.seconds - m0.seconds) / Math.max(1, m1.batches - m0.batches)) },
    }
  } finally {
    child?.kill('SIGTERM')
    await local?.stop()
    await exited
    await commands.disconnect()
    await producer.disconnect()
    await admin.disconnect()
    await dropDb(db, name)
  }
}

const fmt = (n: number) => n.toLocaleString('en-US')

export function printBacklog(r: BacklogResult): void {
  const { service: s, floors: f } = r
  console.log(`backlog: ${fmt(s.events)} events from ${fmt(r.options.agents)} agents, chunk ${r.options.chunkSize}, transactions of about ${r.options.transactionMs} ms, ${r.options.concurrency} partitions at once, ${r.options.appliers} applier(s), projections ${r.options.projections ? 'on' : 'off'}`)
  console.log(`  service (fetch, parse, event_log, rules, every projection, checkpoint, commit): ${s.seconds.toFixed(1)} s  ${fmt(s.perSec)} events/s`)
  console.log(`  floor kafkajs (bare group, first ${fmt(f.kafkajs.events)} messages): ${fmt(f.kafkajs.perSec)} msg/s`)
  console.log(`  floor mysql2 (event_log rows, 500 a statement): ${fmt(f.insert.perSec)} events/s`)
  if (f.allRows) {
    console.log(`  mysql2, every row the service committed (${fmt(f.allRows.rows)} rows in all tables, 500 a statement): ${fmt(f.allRows.perSec)} events/s`)
    console.log(`    ${Object.entries(f.allRows.perTable).map(([t, x]) => `${t} ${fmt(x.rows)} rows ${fmt(x.ms)} ms`).join(', ')}`)
  }
  console.log(`  service / lower floor: ${r.percentOfLowerFloor} % (goal >= 50 %)`)
  console.log(`  ${fmt(r.batches)} partition batches in ${fmt(r.transactions)} transactions (${Math.round(r.service.events / Math.max(1, r.transactions))} events each), ${r.statementsPerTransaction} statements (round trips) per transaction; dead letters: ${r.deadLetters}`)
  console.log(`  statements (count, total ms): ${Object.entries(r.statements).map(([k, d]) => `${k} ${fmt(d.n)} ${fmt(d.ms)}`).join(', ')}`)
}

export function printLive(r: LiveResult): void {
  console.log(`live: ${fmt(r.options.rate)} events/s from ${fmt(r.options.agents)} agents in batches every ${r.options.batchMs} ms for ${r.options.seconds} s (${fmt(r.produced)} produced); ${r.appliers} applier(s), MariaDB buffer pool ${fmt(r.bufferPoolMb)} MB`)
  console.log(`  sustained: ${fmt(r.sustainedPerSec)} events/s committed; lag max ${fmt(r.lag.max)}, at the end ${fmt(r.lag.end)}, drained in ${r.lag.drainSeconds.toFixed(1)} s`)
  console.log(`  lag per second: ${r.lag.perSecond.join(' ')}`)
  console.log(`  decision latency, notice produced -> command.promote_replica on the commands topic: p50 ${r.promote.p50} ms, p99 ${r.promote.p99} ms, max ${r.promote.max} ms (n=${r.promote.n}; goal p99 < 250 ms)`)
  console.log(`    read by the agents' consumer here: p50 ${r.promoteSeen.p50} ms, p99 ${r.promoteSeen.p99} ms (its own fetch wait added)`)
  if (r.stages) console.log(`    of which produced -> the notice's transaction committed: p50 ${r.stages.committed.p50} ms, p99 ${r.stages.committed.p99} ms; committed -> on the topic (relay): p50 ${r.stages.published.p50} ms, p99 ${r.stages.published.p99} ms`)
  console.log(`  notice -> command.emergency_snapshot (no ready replica): p50 ${r.emergency.p50} ms, p99 ${r.emergency.p99} ms (n=${r.emergency.n})`)
  if (r.statements) console.log(`  statements (count, total ms): ${Object.entries(r.statements).map(([k, d]) => `${k} ${fmt(d.n)} ${fmt(d.ms)}`).join(', ')}`)
  console.log(`  service: ${fmt(r.transactions.n)} transactions, ${fmt(r.transactions.meanEvents)} events and ${fmt(r.transactions.meanMs)} ms each`)
  console.log(`  ${r.readyAtStart} agents had a ready replica at the start; commands seen: ${Object.entries(r.commands).map(([k, n]) => `${k} ${n}`).join(', ')}`)
}

async function main(): Promise<void> {
  const { values: v } = parseArgs({
    options: {
      mode: { type: 'string', default: 'backlog' }, events: { type: 'string', default: '100000' }, agents: { type: 'string', default: '1000' },
      mix: { type: 'string' }, chunk: { type: 'string', default: '2000' }, 'transaction-ms': { type: 'string', default: String(CONSUMER_DEFAULTS.transactionMs) }, concurrency: { type: 'string', default: '4' }, appliers: { type: 'string', default: String(CONSUMER_DEFAULTS.appliers) }, 'produce-batch': { type: 'string', default: '2000' }, projections: { type: 'string', default: 'on' },
      rate: { type: 'string', default: '5000' }, seconds: { type: 'string', default: '30' }, 'batch-ms': { type: 'string', default: '25' },
      'no-all-rows': { type: 'boolean', default: false }, 'in-process': { type: 'boolean', default: false }, json: { type: 'boolean', default: false },
    },
  })
  const mix = v.mix ? parseMix(v.mix) : DEFAULT_MIX
  if (v.mode === 'live') {
    const r = await runLive({ rate: Number(v.rate), seconds: Number(v.seconds), agents: Number(v.agents), mix, batchMs: Number(v['batch-ms']), inProcess: v['in-process'] })
    if (v.json) console.log(JSON.stringify({ bench: 'ingest-live', ...r })); else printLive(r)
  } else {
    const r = await runBacklog({ events: Number(v.events), agents: Number(v.agents), mix, chunkSize: Number(v.chunk), transactionMs: Number(v['transaction-ms']), concurrency: Number(v.concurrency), appliers: Number(v.appliers), allRows: !v['no-all-rows'], produceBatch: Number(v['produce-batch']), projections: v.projections !== 'off' })
    if (v.json) console.log(JSON.stringify({ bench: 'ingest-backlog', ...r })); else printBacklog(r)
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main()
