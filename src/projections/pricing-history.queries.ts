/** Read query for the price-history charts: spot prices per pool in 5-minute, hour or day buckets. */
import { type Kysely, sql } from 'kysely'
import type { Database } from '../db/database.js'
import { fromDbTime, toDbTime } from '../db/time.js'

export type PriceInterval = '5m' | 'hour' | 'day'

export interface PricePoint {
  poolId: string
  /** Bucket start, UTC DATETIME text. */
  time: string
  /** Average spot price over the bucket's snapshots (6 places). */
  spotPrice: string
  onDemandPrice: string | null
}

// From observed_at, not time_bucket: rows older than migration 011 hold hour buckets there.
const FIVE_MINUTES = "CAST(DATE_FORMAT(observed_at, '%Y-%m-%d %H:00:00') AS DATETIME) + INTERVAL (MINUTE(observed_at) DIV 5 * 5) MINUTE"

/**
 * Prices of `poolIds` in [from, to), oldest first. Hours and days come from
 * pricing_buckets (one row per pool and bucket, read by primary key: the
 * buckets from the one holding `from` to the one holding `to`, whole); 5
 * minutes from the snapshots themselves.
 */
export async function priceHistory(db: Kysely<Database>, poolIds: readonly string[], from: string, to: string, interval: PriceInterval): Promise<PricePoint[]> {
  if (poolIds.length === 0) return []
  if (interval === '5m') {
    const bucket = sql.raw(FIVE_MINUTES)
    const r = await sql<{ pool_id: string, t: string, spot: string, od: string | null }>`
      SELECT pool_id, ${bucket} AS t, ROUND(AVG(spot_price), 6) AS spot, ROUND(AVG(ondemand_price), 6) AS od
        FROM pricing_snapshots_clean
       WHERE pool_id IN (${sql.join([...poolIds])}) AND observed_at >= ${from} AND observed_at < ${to}
       GROUP BY pool_id, t ORDER BY t, pool_id`.execute(db)
    return r.rows.map((x) => ({ poolId: x.pool_id, time: x.t, spotPrice: x.spot, onDemandPrice: x.od }))
  }
  const start = interval === 'hour' ? `${from.slice(0, 13)}:00:00` : `${from.slice(0, 10)} 00:00:00`
  const rows = await db.selectFrom('pricing_buckets')
    .select(['pool_id', 'bucket_start', sql<string>`ROUND(spot_sum / samples, 6)`.as('spot'), sql<string | null>`ROUND(ondemand_sum / NULLIF(ondemand_samples, 0), 6)`.as('od')])
    .where('pool_id', 'in', poolIds).where('granularity', '=', interval).where('bucket_start', '>=', start).where('bucket_start', '<', to)
    .where('samples', '>', 0).execute()
  return rows.map((x) => ({ poolId: x.pool_id, time: x.bucket_start, spotPrice: x.spot, onDemandPrice: x.od }))
    // Plain code-unit order (the texts are ASCII): localeCompare over two thousand rows costs more than the query.
    .sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : a.poolId < b.poolId ? -1 : a.poolId > b.poolId ? 1 : 0))
}

export interface HistoryPool { id: string, name: string, az: string, key: string }

/**
 * The key of a pool's column in the chart rows: `pool_` and the id with every
 * character but letters and digits turned into `_` (chart libraries read a
 * dot as a nested path), made unique with a suffix if two ids fold together.
 */
export function poolKeys(poolIds: readonly string[]): Map<string, string> {
  const keys = new Map<string, string>()
  const taken = new Set<string>()
  for (const id of poolIds) {
    const base = `pool_${id.replace(/[^A-Za-z0-9]/g, '_')}`
    let key = base
    for (let n = 2; taken.has(key); n++) key = `${base}_${n}`
    taken.add(key)
    keys.set(id, key)
  }
  return keys
}

const num = (d: string | null | undefined) => (d === null || d === undefined ? null : Number(d))

export interface PriceWindow { interval: 'hour' | 'day', from: string, to: string }

const BUCKET_MS = { hour: 3_600_000, day: 86_400_000 }

/**
 * The buckets of a `days` chart at `now`: from the one holding now - days to
 * the one holding now, whole (`to` is the start of the next). The same for
 * every `now` inside one bucket, so the answer is too (the response cache's key).
 */
export function priceWindow(days: number, interval: 'hour' | 'day', now = new Date()): PriceWindow {
  const ms = BUCKET_MS[interval]
  const floor = (t: number) => t - (((t % ms) + ms) % ms)
  return { interval, from: toDbTime(new Date(floor(now.getTime() - days * 86_400_000))), to: toDbTime(new Date(floor(now.getTime()) + ms)) }
}

/**
 * The 7-day (or `days`) chart of an instance: every active pool of its
 * instance type in its region, one row per bucket with each pool's average
 * spot price under the pool's key and the bucket's on-demand price.
 */
export async function instancePriceHistory(
  db: Kysely<Database>, instance: { instanceType: string | null, region: string | null, onDemandPrice: string | null }, window: PriceWindow,
) {
  const pools = instance.instanceType === null || instance.region === null ? [] : await db.selectFrom('spot_pools').select(['id', 'az'])
    .where('instance_type', '=', instance.instanceType).where('region', '=', instance.region).where('is_active', '=', 1).orderBy('id').execute()
  const keys = poolKeys(pools.map((p) => p.id))
  const points = await priceHistory(db, pools.map((p) => p.id), window.from, window.to, window.interval)
  const rows = new Map<string, { time: string, prices: Record<string, number>, od: number[] }>()
  for (const p of points) {
    const row = rows.get(p.time) ?? { time: fromDbTime(p.time).toISOString(), prices: {}, od: [] }
    rows.set(p.time, row)
    row.prices[keys.get(p.poolId)!] = Number(p.spotPrice)
    if (p.onDemandPrice !== null) row.od.push(Number(p.onDemandPrice))
  }
  const latestOnDemand = points.filter((p) => p.onDemandPrice !== null).at(-1)?.onDemandPrice
  return {
    // The bucket's on-demand price: the average over the pools that reported one (they share the instance type and region).
    data: [...rows.values()].map((r) => Object.assign({
      time: r.time, onDemand: r.od.length === 0 ? null : Math.round(r.od.reduce((a, b) => a + b, 0) / r.od.length * 1e6) / 1e6,
    }, r.prices)),
    pools: pools.map((p) => ({ id: p.id, name: p.id, az: p.az, key: keys.get(p.id)! })),
    onDemandPrice: num(instance.onDemandPrice) ?? num(latestOnDemand),
  }
}
