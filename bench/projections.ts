/**
 * How cost grows (issue 9 §5): the incremental projections' cost per event
 * against the batch procedures' time, at 10k, 100k and 1M events of history.
 * For each size: build the history through the projections (in batches of
 * BUILD events, 20,000 by default, one transaction each: set-based, so big
 * batches are cheap per event, and the build is not what is measured), then
 * time one more batch of 500 in-order events (the consumer's chunk) and one
 * of 500 late events (older than ones applied) per event, and the procedures
 * recomputing one day and every day. Prints its figures.
 *
 *   npm run bench:projections              (SIZES=10000,100000,1000000 by default)
 */
import { randomUUID } from 'node:crypto'
import { type Kysely, sql } from 'kysely'
import { createDb } from '../src/db/connect.js'
import type { Database } from '../src/db/database.js'
import { ensureDatabase, migrateToLatest } from '../src/db/migrate.js'
import { applyProjections, type Projection } from '../src/log/projection.js'
import type { StoredEvent } from '../src/log/stored-event.js'
import { costProjection } from '../src/projections/cost.projection.js'
import { poolReliabilityProjection } from '../src/projections/pool-reliability.projection.js'
import { pricingHistoryProjection } from '../src/projections/pricing-history.projection.js'

const SIZES = (process.env.SIZES ?? '10000,100000,1000000').split(',').map(Number)
const url = process.env.DATABASE_URL ?? 'mysql://root@127.0.0.1:3306/test'
const AGENTS = 200
const POOLS = ['m5.large.us-east-1a', 'm5.large.us-east-1b', 'm5.large.us-east-1c', 'm5.large.us-east-1d']
const START = Date.parse('2026-09-01T00:00:00Z')
const projections = [costProjection, poolReliabilityProjection, pricingHistoryProjection] as readonly Projection[]

const clientId = randomUUID()
const agents = Array.from({ length: AGENTS }, () => randomUUID())

/** Event i of the stream: heartbeats with changing prices (84%), switches (5%), signals (1%), pool prices (10%); a minute apart per agent. */
function eventAt(i: number, shiftMs = 0): StoredEvent[] {
  const agentId = agents[i % AGENTS]!
  const at = START + Math.floor(i / AGENTS) * 60_000 + shiftMs
  const occurredAt = new Date(at).toISOString()
  const pool = POOLS[(i >> 3) % POOLS.length]!
  const spotPrice = (0.03 + (i % 17) / 1000).toFixed(4)
  const base = { eventId: randomUUID(), version: 1 as const, occurredAt, clientId, agentId }
  const r = i % 100
  if (r < 84) return [{ ...base, type: 'agent.heartbeat', data: { status: 'online', instanceId: `i-${agentId.slice(0, 8)}`, mode: 'spot', poolId: pool, spotPrice, onDemandPrice: '0.096' } }]
  if (r < 89) return [{ ...base, type: 'agent.instance_switched', data: { oldInstanceId: 'i-old', newInstanceId: `i-${i}`, oldPoolId: pool, newPoolId: POOLS[(i + 1) % POOLS.length]!, onDemandPrice: '0.096', oldSpotPrice: spotPrice, newSpotPrice: spotPrice, trigger: 'price' } }]
  if (r < 90) {
    const notice = { ...base, type: 'spot.rebalance_recommendation' as const, data: { instanceId: `i-${i}`, poolId: pool } }
    return [notice, { ...base, eventId: randomUUID(), causeEventId: notice.eventId, type: 'decision.signal_recorded', data: {
      signalType: 'rebalance-recommendation', instanceId: `i-${i}`, poolId: pool, detectedAt: occurredAt, terminationTime: null,
      responseAction: 'no-action', replicaId: null, responseTimeMs: 1, failoverTimeMs: null, success: true, error: null, clockSkewMs: 0 } }]
  }
  return [{ ...base, type: 'pricing.snapshot', data: { poolId: pool, instanceType: 'm5.large', region: 'us-east-1', az: pool.split('.').at(-1)!, spotPrice, onDemandPrice: '0.096', observedAt: occurredAt, sourceType: 'agent' } }]
}

async function apply(db: Kysely<Database>, events: StoredEvent[]): Promise<void> {
  await db.transaction().setIsolationLevel('read committed').execute((trx) => applyProjections(trx, projections, events))
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now()
  await fn()
  return performance.now() - t0
}

async function freshDb(name: string): Promise<Kysely<Database>> {
  const server = createDb({ url, database: '', connectionLimit: 1 })
  await sql`DROP DATABASE IF EXISTS ${sql.id(name)}`.execute(server)
  await ensureDatabase(server, name)
  await server.destroy()
  const db = createDb({ url, database: name, connectionLimit: 2 })
  await migrateToLatest(db)
  return db
}

const BATCH = 500
const BUILD = Number(process.env.BUILD ?? 20_000)
const rows: string[] = []
for (const size of SIZES) {
  const name = process.env.KEEP ? 'bench_proj_kept' : `bench_proj_${process.pid}`
  const db = await freshDb(name)
  const built = await timed(async () => {
    for (let i = 0; i < size; i += BUILD) await apply(db, Array.from({ length: Math.min(BUILD, size - i) }, (_, k) => eventAt(i + k)).flat())
  })
  // Four more batches in order (the mean per event), then one of heartbeats 30 minutes late (each splits a stored interval).
  const next = Array.from({ length: 4 * BATCH }, (_, k) => eventAt(size + k)).flat()
  const inOrder = await timed(async () => { for (let i = 0; i < next.length; i += BATCH) await apply(db, next.slice(i, i + BATCH)) })
  const late = Array.from({ length: BATCH }, (_, k) => eventAt(size - 4 * AGENTS + k * 7, -30 * 60_000)).flat()
    .filter((e) => e.type === 'agent.heartbeat')
  const lateMs = await timed(() => apply(db, late))
  const days = (await sql<{ d: string }>`SELECT DISTINCT record_date AS d FROM cost_records ORDER BY d`.execute(db)).rows.map((r) => r.d)
  const middle = days[Math.floor(days.length / 2)]!
  const oneDay = await timed(() => sql`CALL compute_daily_savings(${middle})`.execute(db))
  const allDays = await timed(async () => { for (const d of days) await sql`CALL compute_daily_savings(${d})`.execute(db) })
  const reliability = await timed(async () => {
    for (const d of days) await sql`CALL compute_pool_reliability_window(${`${d} 00:00:00`}, ${`${d} 00:00:00`} + INTERVAL 1 DAY)`.execute(db)
  })
  const costRows = (await db.selectFrom('cost_records').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n
  rows.push([
    size.toLocaleString('en-US').padStart(9), `${Math.round(size / (built / 1000)).toLocaleString('en-US')}/s`.padStart(10),
    `${(inOrder * 1000 / next.length).toFixed(0)} µs`.padStart(8), `${(lateMs * 1000 / Math.max(1, late.length)).toFixed(0)} µs`.padStart(8),
    `${oneDay.toFixed(0)} ms`.padStart(9), `${(allDays / 1000).toFixed(1)} s (${days.length} d)`.padStart(14),
    `${(reliability / 1000).toFixed(1)} s`.padStart(9), String(costRows).padStart(9),
  ].join(' | '))
  console.error(`done: ${size} (built in ${(built / 1000).toFixed(1)} s)`)
  if (!process.env.KEEP) await sql`DROP DATABASE ${sql.id(name)}`.execute(db)
  await db.destroy()
}
console.log('  history |    build  | per event: in order | late | compute_daily_savings: one day | every day | reliability, every day | cost rows')
for (const r of rows) console.log(r)
