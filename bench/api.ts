/**
 * Latency and throughput of the two heaviest UI reads through the real app
 * (listening on a port, autocannon as the client, MariaDB behind): the
 * Replicas tab of a client with 1k agents, each with a live replica, and the
 * 7-day hourly price history of one of its instances with 30 days of prices
 * (24 pools, 12 of the instance's type, a snapshot per pool every 5
 * minutes) loaded. Rows are seeded
 * directly (set-based INSERTs; the price buckets by migration 019's
 * backfill, which a test holds equal to the projection's); the goal is p99
 * under 20 ms.
 *
 * Every route is measured as a browser calls it (gzip accepted) at each
 * concurrency, without gzip, and on the response cache's miss path (a commit
 * of the client's data before each request).
 *
 *   npm run bench:api        (AGENTS=1000 DAYS=30 SECONDS=10 CONNECTIONS=1,10 MISSES=200)
 */
import { randomUUID } from 'node:crypto'
import { cpus, loadavg } from 'node:os'
import autocannon from 'autocannon'
import Fastify from 'fastify'
import { sql, type Kysely } from 'kysely'
import { up as pricingBuckets } from '../db/migrations/019_pricing_buckets.js'
import { app } from '../src/app.js'
import { createClient } from '../src/clients/client.repository.js'
import { createDb } from '../src/db/connect.js'
import type { Database, NewAgent, NewPricingSnapshot, NewReplicaInstance } from '../src/db/database.js'
import { ensureDatabase, migrateToLatest } from '../src/db/migrate.js'
import { toDbTime } from '../src/db/time.js'
import { PRICING_SCOPE, bumpReadVersions, clientScope } from '../src/log/read-versions.js'
import { Metrics } from '../src/metrics.js'
import { pipeline } from '../src/wiring.js'

const AGENTS = Number(process.env.AGENTS ?? 1000)
const DAYS = Number(process.env.DAYS ?? 30)
const SECONDS = Number(process.env.SECONDS ?? 10)
// Each route at each concurrency: 1 connection is the service time, 10 a busy UI's worth of callers.
const CONNECTIONS = (process.env.CONNECTIONS ?? '1,10').split(',').map(Number)
// Requests of the miss path per route (each after a commit).
const MISSES = Number(process.env.MISSES ?? 200)
const url = process.env.DATABASE_URL ?? 'mysql://root@127.0.0.1:3306/test'
const TYPES = ['m5.large', 'c5.xlarge']
// 12 pools per instance type: the region's six AZs and six Local Zones.
const AZS = [...['a', 'b', 'c', 'd', 'e', 'f'].map((x) => `us-east-1${x}`), ...['bos', 'chi', 'dfw', 'iah', 'mia', 'nyc'].map((x) => `us-east-1-${x}-1a`)]

async function insertChunked<T>(rows: T[], insert: (chunk: T[]) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < rows.length; i += 1000) await insert(rows.slice(i, i + 1000))
}

async function seed(db: Kysely<Database>, clientId: string): Promise<string> {
  const now = Date.now()
  const agents: NewAgent[] = []
  const replicas: NewReplicaInstance[] = []
  for (let i = 0; i < AGENTS; i++) {
    const id = randomUUID()
    const az = AZS[i % AZS.length]!
    const type = TYPES[i % TYPES.length]!
    agents.push({
      id, client_id: clientId, logical_agent_id: `web-${i}`, instance_id: `i-${i}`, instance_type: type, region: 'us-east-1', az,
      current_pool_id: `${type}.${az}`, current_mode: 'spot', hostname: `ip-${i}`, status: 'online', spot_price: '0.034500',
      ondemand_price: '0.096000', last_heartbeat_at: new Date(now),
    })
    const replicaAz = AZS[(i + 1) % AZS.length]!
    replicas.push({
      id: randomUUID(), agent_id: id, client_id: clientId, instance_id: `i-r-${i}`, replica_type: 'manual', pool_id: `${type}.${replicaAz}`,
      instance_type: type, region: 'us-east-1', az: replicaAz, status: 'ready', sync_status: 'synced', sync_latency_ms: 12,
      state_transfer_progress: '100.00', hourly_cost: '0.031000', created_by: 'user', parent_instance_id: `i-${i}`, ready_at: new Date(now),
    })
  }
  await insertChunked(agents, (c) => db.insertInto('agents').values(c).execute())
  await insertChunked(replicas, (c) => db.insertInto('replica_instances').values(c).execute())

  await db.insertInto('spot_pools').values(TYPES.flatMap((type) => AZS.map((az) => ({ id: `${type}.${az}`, instance_type: type, region: 'us-east-1', az })))).execute()
  const step = 5 * 60_000
  const start = now - DAYS * 86_400_000
  let prices: NewPricingSnapshot[] = []
  for (let t = start; t < now; t += step) {
    const at = new Date(t)
    const bucket = toDbTime(new Date(t - (t % step))).slice(0, 19)
    for (const type of TYPES) {
      for (const [j, az] of AZS.entries()) {
        const spot = (0.03 + 0.001 * j + 0.002 * Math.sin(t / 3_600_000 + j)).toFixed(6)
        prices.push({
          pool_id: `${type}.${az}`, instance_type: type, region: 'us-east-1', az, spot_price: spot, ondemand_price: '0.096000',
          time_bucket: bucket, observed_at: at, source_type: 'bench',
        })
      }
    }
    if (prices.length >= 20_000) {
      await insertChunked(prices, (c) => db.insertInto('pricing_snapshots_clean').values(c).execute())
      prices = []
    }
  }
  await insertChunked(prices, (c) => db.insertInto('pricing_snapshots_clean').values(c).execute())
  await pricingBuckets(db) // the projection's hour and day buckets of these snapshots: migration 019's backfill (tested equal)
  await sql`ANALYZE TABLE agents, replica_instances, pricing_snapshots_clean, pricing_buckets`.execute(db)
  return 'i-0'
}

interface Figures { p50: number, p99: number, rps: number, errors: number, bytes: number }

// What a browser sends: the UI's fetches accept gzip.
const BROWSER = { 'accept-encoding': 'gzip, deflate, br' }

async function load(target: string, headers: Record<string, string>, connections: number, duration = SECONDS): Promise<Figures> {
  // In a worker thread: the client's parsing of the answers stays off the server's event loop, as a browser's would.
  const r = await autocannon({ url: target, connections, duration, headers, workers: 1 })
  return { p50: r.latency.p50, p99: r.latency.p99, rps: r.requests.average, errors: r.errors + r.non2xx, bytes: r.throughput.average / Math.max(1, r.requests.average) }
}

const percentile = (sorted: readonly number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0

/**
 * The cache's miss path, one connection: before each request a committed
 * change of the client (its data version bumped, as an applied batch does),
 * so every answer is built again from the database.
 */
async function misses(db: Kysely<Database>, clientId: string, target: string, headers: Record<string, string>, n = MISSES): Promise<Figures> {
  const times: number[] = []
  let bytes = 0
  const started = performance.now()
  for (let i = 0; i < n; i++) {
    await db.transaction().execute((trx) => bumpReadVersions(trx, [clientScope(clientId), PRICING_SCOPE]))
    const t0 = performance.now()
    const r = await fetch(target, { headers })
    bytes += (await r.arrayBuffer()).byteLength
    times.push(performance.now() - t0)
  }
  const sorted = times.sort((a, b) => a - b)
  return { p50: Math.round(percentile(sorted, 0.5)), p99: Math.round(percentile(sorted, 0.99)), rps: n / ((performance.now() - started) / 1000), errors: 0, bytes: bytes / n }
}

async function main(): Promise<void> {
  const name = `bench_api_${process.pid}`
  const server = createDb({ url, database: '', connectionLimit: 1 })
  await sql`DROP DATABASE IF EXISTS ${sql.id(name)}`.execute(server)
  await ensureDatabase(server, name)
  const db = createDb({ url, database: name, connectionLimit: 10 })
  const fastify = Fastify({ logger: false })
  try {
    await migrateToLatest(db)
    const client = await createClient(db, 'bench')
    const seeded = performance.now()
    const instance = await seed(db, client.id)
    const rows = await db.selectFrom('pricing_snapshots_clean').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()
    console.log(`seeded ${AGENTS} agents with live replicas and ${Number(rows.n)} price rows (${DAYS} days) in ${((performance.now() - seeded) / 1000).toFixed(1)} s`)

    await fastify.register(app, {
      db, metrics: new Metrics(), consumerReady: () => true, pipeline: pipeline(), rateLimit: { max: 1e9, timeWindowMs: 60_000 },
    })
    await fastify.listen({ port: 0, host: '127.0.0.1' })
    const address = fastify.server.address()
    const base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`
    const routes = [
      ['Replicas tab', `${base}/api/client/${client.id}/replicas`],
      ['price history, 7 days hourly', `${base}/api/client/instances/${instance}/price-history?days=7&interval=hour`],
      ['price history, 30 days daily', `${base}/api/client/instances/${instance}/price-history?days=30&interval=day`],
    ] as const
    console.log(`autocannon: ${CONNECTIONS.join(' and ')} connections, ${SECONDS} s per route; goal p99 < 20 ms`)
    console.log('| route | p50 ms | p99 ms | req/s | body | errors |')
    console.log('|---|---|---|---|---|---|')
    const auth = { authorization: `Bearer ${client.token}` }
    const row = (label: string, f: Figures) =>
      console.log(`| ${label} | ${f.p50} | ${f.p99} | ${f.rps.toFixed(0)} | ${(f.bytes / 1024).toFixed(0)} KiB | ${f.errors} |`)
    for (const [label, target] of routes) {
      const check = await fetch(target, { headers: auth })
      if (!check.ok) throw new Error(`${label}: ${check.status} ${await check.text()}`)
      await load(target, { ...auth, ...BROWSER }, Math.max(...CONNECTIONS), 3) // warm-up: JIT, buffer pool
      for (const connections of CONNECTIONS) {
        row(`${label}, ${connections} connection${connections === 1 ? '' : 's'}`, await load(target, { ...auth, ...BROWSER }, connections))
      }
      row(`${label}, 1 connection, no gzip`, await load(target, auth, 1))
      row(`${label}, 1 connection, every answer rebuilt (a commit before each)`, await misses(db, client.id, target, { ...auth, ...BROWSER }))
    }
    console.log(`load average ${loadavg().map((x) => x.toFixed(2)).join(', ')} (${cpus().length} cores): figures hold only on an otherwise idle machine`)
  } finally {
    await fastify.close()
    await sql`DROP DATABASE IF EXISTS ${sql.id(name)}`.execute(server)
    await db.destroy()
    await server.destroy()
  }
}

await main()
