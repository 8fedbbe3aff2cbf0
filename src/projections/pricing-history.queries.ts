/** Read query for the price-history charts: spot prices per pool in 5-minute, hour or day buckets. */
import { type Kysely, sql } from 'kysely'
import type { Database } from '../db/database.js'

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
const BUCKET: Record<PriceInterval, string> = {
  '5m': "CAST(DATE_FORMAT(observed_at, '%Y-%m-%d %H:00:00') AS DATETIME) + INTERVAL (MINUTE(observed_at) DIV 5 * 5) MINUTE",
  hour: "CAST(DATE_FORMAT(observed_at, '%Y-%m-%d %H:00:00') AS DATETIME)",
  day: "CAST(DATE_FORMAT(observed_at, '%Y-%m-%d 00:00:00') AS DATETIME)",
}

/** Prices of `poolIds` with observed_at in [from, to), oldest first. */
export async function priceHistory(db: Kysely<Database>, poolIds: readonly string[], from: string, to: string, interval: PriceInterval): Promise<PricePoint[]> {
  if (poolIds.length === 0) return []
  const bucket = sql.raw(BUCKET[interval])
  const r = await sql<{ pool_id: string, t: string, spot: string, od: string | null }>`
    SELECT pool_id, ${bucket} AS t, ROUND(AVG(spot_price), 6) AS spot, ROUND(AVG(ondemand_price), 6) AS od
      FROM pricing_snapshots_clean
     WHERE pool_id IN (${sql.join([...poolIds])}) AND observed_at >= ${from} AND observed_at < ${to}
     GROUP BY pool_id, t ORDER BY t, pool_id`.execute(db)
  return r.rows.map((x) => ({ poolId: x.pool_id, time: x.t, spotPrice: x.spot, onDemandPrice: x.od }))
}
