/**
 * The consumer group's timing, measured with real `serve` processes: two
 * instances in one group on one database, then
 *  - idle latency: a termination notice produced while the group is idle,
 *    to its decision in event_log (median and max of SAMPLES);
 *  - takeover: one instance killed with SIGKILL while a steady stream runs
 *    on every partition; seconds from the kill to the first event the
 *    survivor applied on each partition the dead one owned.
 * Settings from the environment (the same names `serve` reads):
 *
 *   npm run bench:takeover
 *   KAFKA_SESSION_TIMEOUT_MS=30000 KAFKA_HEARTBEAT_INTERVAL_MS=3000 KAFKA_FETCH_MAX_WAIT_MS=5000 npm run bench:takeover
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { createServer } from 'node:net'
import { loadavg } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { Kafka, logLevel } from 'kafkajs'
import { sql } from 'kysely'
import { z } from 'zod'
import { createDb } from '../src/db/connect.js'
import { ensureDatabase, migrateToLatest } from '../src/db/migrate.js'
import { newEvent } from '../src/events/producer.js'
import { ensureTopics } from '../src/demo.js'
import { CONSUMER_DEFAULTS } from '../src/ingest/consumer-settings.js'

const url = process.env.DATABASE_URL ?? 'mysql://root@127.0.0.1:3306/test'
const brokers = (process.env.KAFKA_BROKERS ?? '').split(',').filter(Boolean)
if (brokers.length === 0) throw new Error('KAFKA_BROKERS is not set (run through scripts/local-servers.sh run)')
const SAMPLES = Number(process.env.SAMPLES ?? 15)
const settings = {
  KAFKA_SESSION_TIMEOUT_MS: process.env.KAFKA_SESSION_TIMEOUT_MS ?? String(CONSUMER_DEFAULTS.sessionTimeoutMs),
  KAFKA_HEARTBEAT_INTERVAL_MS: process.env.KAFKA_HEARTBEAT_INTERVAL_MS ?? String(CONSUMER_DEFAULTS.heartbeatIntervalMs),
  KAFKA_FETCH_MAX_WAIT_MS: process.env.KAFKA_FETCH_MAX_WAIT_MS ?? String(CONSUMER_DEFAULTS.maxWaitTimeMs),
}
const bin = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../src/bin.js')
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer().once('error', reject).listen(0, '127.0.0.1', () => {
      const a = s.address()
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 0))
    })
  })
}

const dbName = `bench_takeover_${process.pid}`
const server = createDb({ url, database: '', connectionLimit: 1 })
await sql`DROP DATABASE IF EXISTS ${sql.id(dbName)}`.execute(server)
await ensureDatabase(server, dbName)
const db = createDb({ url, database: dbName, connectionLimit: 2 })
await migrateToLatest(db)

const id = randomUUID().slice(0, 8)
const topics = {
  spotInterruptions: `si-${id}`, replicaEvents: `re-${id}`, agentEvents: `ae-${id}`, pricingSnapshots: `ps-${id}`, replicaCommands: `rc-${id}`,
}
const kafka = new Kafka({ clientId: 'bench-takeover', brokers, logLevel: logLevel.NOTHING })
await ensureTopics(kafka, topics)
const groupId = `bench-${id}`
const env = {
  ...process.env, ...settings, DATABASE_URL: `${url.replace(/\/[^/]*$/, '')}/${dbName}`, KAFKA_GROUP_ID: groupId, LOG_LEVEL: process.env.DEBUG ? 'debug' : 'warn',
  TOPIC_SPOT_INTERRUPTIONS: topics.spotInterruptions, TOPIC_REPLICA_EVENTS: topics.replicaEvents, TOPIC_AGENT_EVENTS: topics.agentEvents,
  TOPIC_PRICING_SNAPSHOTS: topics.pricingSnapshots, TOPIC_REPLICA_COMMANDS: topics.replicaCommands,
}
const Readyz = z.object({ assignment: z.record(z.string(), z.array(z.number())) })
interface Instance { child: ChildProcess, port: number }
const children: ChildProcess[] = []
async function startServe(): Promise<Instance> {
  const port = await freePort()
  // DEBUG=1: the instances' logs on stderr.
  const child = spawn(process.execPath, [bin, 'serve'], { env: { ...env, PORT: String(port) }, stdio: ['ignore', process.env.DEBUG ? 'inherit' : 'ignore', 'inherit'] })
  children.push(child)
  return { child, port }
}
process.on('exit', () => { for (const c of children) c.kill('SIGKILL') })

/** The partitions of the pricing topic an instance reports in /readyz (empty while it starts or rebalances). */
async function owned(i: Instance): Promise<number[]> {
  try {
    const r = await fetch(`http://127.0.0.1:${i.port}/readyz`)
    const body = Readyz.safeParse(await r.json())
    return body.success ? body.data.assignment[topics.pricingSnapshots] ?? [] : []
  } catch {
    return []
  }
}

const a = await startServe()
const b = await startServe()
const started = Date.now()
for (;;) {
  const [pa, pb] = [await owned(a), await owned(b)]
  if (pa.length > 0 && pb.length > 0 && pa.length + pb.length === 4) break
  if (Date.now() - started > 120_000) throw new Error('the two instances never shared the partitions')
  await sleep(200)
}
console.log(`both instances in the group after ${((Date.now() - started) / 1000).toFixed(1)} s`)

const producer = kafka.producer({ allowAutoTopicCreation: true })
await producer.connect()
const clientId = randomUUID()
const agents = Array.from({ length: 8 }, () => randomUUID())
const base = Date.now() - 60_000
await producer.send({
  topic: topics.agentEvents, acks: -1, messages: agents.map((agentId, i) => ({
    key: agentId,
    value: JSON.stringify(newEvent('agent.registered', { clientId, agentId, occurredAt: new Date(base).toISOString(), data: { logicalAgentId: `agent-${i}`, instanceId: `i-${i}`, instanceType: 'm5.large', region: 'us-east-1', az: 'us-east-1a', mode: 'spot', hostname: `host-${i}`, spotPrice: '0.0345', onDemandPrice: '0.096' } })),
  })),
})
for (;;) {
  const n = await db.selectFrom('agents').select(sql<number>`COUNT(*)`.as('n')).executeTakeFirstOrThrow()
  if (Number(n.n) === agents.length) break
  await sleep(50)
}

// Idle latency: one termination notice at a time, to its decision.
const latencies: number[] = []
for (let i = 0; i < SAMPLES; i++) {
  await sleep(300 + (i * 37) % 200) // idle: the consumers sit in a fetch
  const agentId = agents[i % agents.length]!
  const notice = newEvent('spot.termination_notice', { clientId, agentId, occurredAt: new Date().toISOString(), data: { instanceId: `i-${i % agents.length}`, poolId: 'm5.large.us-east-1a', terminationTime: new Date(Date.now() + 120_000 + i).toISOString() } })
  const t0 = performance.now()
  await producer.send({ topic: topics.spotInterruptions, acks: -1, messages: [{ key: agentId, value: JSON.stringify(notice) }] })
  for (;;) {
    const row = await db.selectFrom('event_log').select('seq').where('cause_event_id', '=', notice.eventId).executeTakeFirst()
    if (row) break
    await sleep(5)
  }
  latencies.push(performance.now() - t0)
}
latencies.sort((x, y) => x - y)

// Takeover: a steady stream on every partition; kill one instance; time to each of its partitions moving again.
let streaming = true
const stream = (async () => {
  for (let i = 0; streaming; i++) {
    await producer.send({
      topic: topics.pricingSnapshots, acks: -1, messages: [0, 1, 2, 3].map((partition) => ({
        partition,
        value: JSON.stringify(newEvent('pricing.snapshot', { clientId, agentId: agents[0]!, data: { poolId: 'm5.large.us-east-1a', instanceType: 'm5.large', region: 'us-east-1', az: 'us-east-1a', spotPrice: '0.0345', onDemandPrice: '0.096', observedAt: new Date().toISOString(), sourceType: 'bench' } })),
      })),
    })
    await sleep(50)
  }
})()
async function checkpoints(): Promise<Map<number, bigint>> {
  const rows = await db.selectFrom('consumer_checkpoints').selectAll().where('topic', '=', topics.pricingSnapshots).execute()
  return new Map(rows.map((r) => [r.partition_no, BigInt(r.offset_no)]))
}
await sleep(2_000)
const orphaned = await owned(a)
const kept = await owned(b)
a.child.kill('SIGKILL')
const killedAt = performance.now()
await new Promise((r) => a.child.once('exit', r))
await sleep(300) // a's last transaction, if any, is over: its checkpoints are final
const atKill = await checkpoints()
const resumed = new Map<number, number>()
while (resumed.size < orphaned.length) {
  const now = await checkpoints()
  for (const p of orphaned) if (!resumed.has(p) && (now.get(p) ?? -1n) > (atKill.get(p) ?? -1n)) resumed.set(p, (performance.now() - killedAt) / 1000)
  if (process.env.DEBUG && Math.random() < 0.01) console.error(`${((performance.now() - killedAt) / 1000).toFixed(1)} s: survivor owns [${await owned(b)}], checkpoints ${[...now].join(' ')}`)
  if (performance.now() - killedAt > 180_000) throw new Error(`partitions ${orphaned.filter((p) => !resumed.has(p))} never resumed`)
  await sleep(20)
}
streaming = false
await stream

const ms = (x: number) => `${Math.round(x)} ms`
console.log(`settings: session ${settings.KAFKA_SESSION_TIMEOUT_MS} ms, heartbeat ${settings.KAFKA_HEARTBEAT_INTERVAL_MS} ms, fetch max wait ${settings.KAFKA_FETCH_MAX_WAIT_MS} ms`)
console.log(`idle produce→decision (termination notice, ${SAMPLES} samples): median ${ms(latencies[Math.floor(latencies.length / 2)]!)}, max ${ms(latencies.at(-1)!)}`)
console.log(`partitions of the pricing topic before the kill: killed instance [${orphaned.join(',')}], survivor [${kept.join(',')}]`)
console.log(`SIGKILL → first event applied by the survivor: ${[...resumed].map(([p, s]) => `p${p} ${s.toFixed(1)} s`).join(', ')}`)
console.log(`load average (1, 5, 15 min): ${loadavg().map((l) => l.toFixed(2)).join(' ')}`)

b.child.kill('SIGTERM')
await new Promise((r) => b.child.once('exit', r))
await producer.disconnect()
await sql`DROP DATABASE ${sql.id(dbName)}`.execute(db)
await db.destroy()
await server.destroy()
