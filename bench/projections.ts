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
 * Histories beyond REPLICATE events (100,000 by default) are that many events
 * built through the projections, then copied in SQL a whole number of days
 * later until the size is reached (the rows the projections wrote, ids made
 * new and times shifted; the copies' days are alike, so the procedures' time
 * for one day stays that of one copy's day while every day grows with the
 * history). Recomputing every day is timed for up to EVERY_DAY days (3) and
 * estimated as days × one day beyond, marked "est.".
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
const REPLICATE = Number(process.env.REPLICATE ?? 100_000)
const EVERY_DAY = Number(process.env.EVERY_DAY ?? 3)
const DAY_MS = 86_400_000

/** The columns of the projections' rows that a copy shifts by whole days, and the event ids it makes new. */
const SHIFTED: Record<string, { times: string[], key: string }> = {
  cost_price_points: { times: ['at'], key: 'at' },
  cost_records: { times: ['period_start', 'period_end', 'record_date'], key: 'period_start' },
  client_savings_daily: { times: ['date'], key: 'date' },
  pool_reliability_metrics: { times: ['bucket_start'], key: 'bucket_start' },
  pricing_snapshots_clean: { times: ['time_bucket', 'observed_at'], key: 'observed_at' },
}

/** Copy `copy` of the rows before `end`, `days` × copy days later, with new event ids. */
async function replicate(db: Kysely<Database>, copy: number, days: number, end: string): Promise<void> {
  for (const [table, { times, key }] of Object.entries(SHIFTED)) {
    const cols = (await sql<{ c: string }>`SELECT COLUMN_NAME AS c FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ${table}
      AND EXTRA NOT LIKE '%GENERATED%' AND EXTRA NOT LIKE '%auto_increment%' AND COLUMN_NAME <> 'created_at' ORDER BY ORDINAL_POSITION`.execute(db)).rows.map((r) => r.c)
    const expr = cols.map((c) => times.includes(c) ? `\`${c}\` + INTERVAL ${copy * days} DAY`
      : c === 'event_id' ? `CONCAT(LEFT(event_id, 24), LPAD(HEX(${copy}), 12, '0'))` : `\`${c}\``)
    await sql.raw(`INSERT INTO \`${table}\` (${cols.map((c) => `\`${c}\``).join(', ')}) SELECT ${expr.join(', ')} FROM \`${table}\` WHERE \`${key}\` < '${end}'`).execute(db)
  }
}
const rows: string[] = []
for (const size of SIZES) {
  const name = process.env.KEEP ? 'bench_proj_kept' : `bench_proj_${process.pid}`
  const db = await freshDb(name)
  const base = Math.min(size, REPLICATE)
  const copies = Math.ceil(size / base)
  // Whole days, so that dates and hour buckets of a copy line up with the original's.
  const days = Math.ceil((Math.floor((base - 1) / AGENTS) * 60_000 + 1) / DAY_MS)
  const built = await timed(async () => {
    for (let i = 0; i < base; i += BUILD) await apply(db, Array.from({ length: Math.min(BUILD, base - i) }, (_, k) => eventAt(i + k)).flat())
    const end = new Date(START + days * DAY_MS).toISOString().slice(0, 10)
    for (let c = 1; c < copies; c++) await replicate(db, c, days, end)
    // Statistics of tables that grew tenfold at once are stale: plans for a tenth of the rows can take minutes.
    if (copies > 1) for (const table of Object.keys(SHIFTED)) await sql.raw(`ANALYZE TABLE \`${table}\``).execute(db)
  })
  // The history's newest copy starts this much after the first.
  const shift = (copies - 1) * days * DAY_MS
  // Four more batches in order (the mean per event), then one of heartbeats 30 minutes late (each splits a stored interval).
  const next = Array.from({ length: 4 * BATCH }, (_, k) => eventAt(base + k, shift)).flat()
  const inOrder = await timed(async () => { for (let i = 0; i < next.length; i += BATCH) await apply(db, next.slice(i, i + BATCH)) })
  const late = Array.from({ length: BATCH }, (_, k) => eventAt(base - 4 * AGENTS + k * 7, shift - 30 * 60_000)).flat()
    .filter((e) => e.type === 'agent.heartbeat')
  const lateMs = await timed(() => apply(db, late))
  const dates = (await sql<{ d: string }>`SELECT DISTINCT record_date AS d FROM cost_records ORDER BY d`.execute(db)).rows.map((r) => r.d)
  const middle = dates[Math.floor(dates.length / 2)]!
  const oneDay = await timed(() => sql`CALL compute_daily_savings(${middle})`.execute(db))
  const estimated = dates.length > EVERY_DAY
  const allDays = estimated ? oneDay * dates.length : await timed(async () => { for (const d of dates) await sql`CALL compute_daily_savings(${d})`.execute(db) })
  const reliability = await timed(async () => {
    for (const d of dates) await sql`CALL compute_pool_reliability_window(${`${d} 00:00:00`}, ${`${d} 00:00:00`} + INTERVAL 1 DAY)`.execute(db)
  })
  const costRows = (await db.selectFrom('cost_records').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n
  rows.push([
    size.toLocaleString('en-US').padStart(9), `${(built / 1000).toFixed(0)} s${copies > 1 ? ` (${base / 1000}k ×${copies})` : ''}`.padStart(16),
    `${(inOrder * 1000 / next.length).toFixed(0)} µs`.padStart(8), `${(lateMs * 1000 / Math.max(1, late.length)).toFixed(0)} µs`.padStart(8),
    `${oneDay.toFixed(0)} ms`.padStart(9), `${estimated ? 'est. ' : ''}${(allDays / 1000).toFixed(1)} s (${dates.length} d)`.padStart(19),
    `${(reliability / 1000).toFixed(1)} s`.padStart(9), String(costRows).padStart(9),
  ].join(' | '))
  console.error(`done: ${size} (built in ${(built / 1000).toFixed(1)} s)`)
  if (!process.env.KEEP) await sql`DROP DATABASE ${sql.id(name)}`.execute(db)
  await db.destroy()
}
console.log('  history |           build | per event: in order | late | compute_daily_savings: one day | every day | reliability, every day | cost rows')
for (const r of rows) console.log(r)
