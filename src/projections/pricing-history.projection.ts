/**
 * Price history for the multi-pool charts: one pricing_snapshots_clean row
 * per snapshot event (idempotent on event_id) in its 5-minute bucket, the
 * pool registered in spot_pools, and the snapshot added to its pool's hour
 * and day rows of pricing_buckets (count and exact sum, what the chart
 * reads). All three are commutative, so partition interleaving cannot
 * matter. Read queries: pricing-history.queries.ts.
 */
import { sql } from 'kysely'
import { valuesText } from '../db/statement-bytes.js'
import { toDbTime } from '../db/time.js'
import type { Projection } from '../log/projection.js'
import { fromMicro, toMicro } from './fixed-point.js'

const HANDLES = ['pricing.snapshot'] as const
const FIVE_MINUTES = 5 * 60_000
const SNAPSHOT_COLUMNS = ['event_id', 'pool_id', 'instance_type', 'region', 'az', 'spot_price', 'ondemand_price', 'time_bucket', 'observed_at', 'source_type'] as const

interface Bucket { poolId: string, granularity: 'hour' | 'day', start: string, samples: number, spot: bigint, odSamples: number, od: bigint }

/** The snapshots added up per pool, hour and day. */
function bucketsOf(snaps: readonly { data: { poolId: string, observedAt: string, spotPrice: string, onDemandPrice: string | null } }[]): Bucket[] {
  const buckets = new Map<string, Bucket>()
  for (const { data } of snaps) {
    const t = toDbTime(data.observedAt)
    for (const [granularity, start] of [['hour', `${t.slice(0, 13)}:00:00`], ['day', `${t.slice(0, 10)} 00:00:00`]] as const) {
      const k = `${data.poolId}|${granularity}|${start}`
      const b = buckets.get(k) ?? { poolId: data.poolId, granularity, start, samples: 0, spot: 0n, odSamples: 0, od: 0n }
      buckets.set(k, b)
      b.samples++
      b.spot += toMicro(data.spotPrice)
      if (data.onDemandPrice !== null) { b.odSamples++; b.od += toMicro(data.onDemandPrice) }
    }
  }
  // Sorted, so concurrent batches lock rows in the same order.
  return [...buckets.values()].sort((a, b) => a.poolId.localeCompare(b.poolId) || a.granularity.localeCompare(b.granularity) || a.start.localeCompare(b.start))
}

/** observedAt truncated to its 5-minute bucket, as a DATETIME. */
export const fiveMinuteBucket = (iso: string) => toDbTime(new Date(Math.floor(Date.parse(iso) / FIVE_MINUTES) * FIVE_MINUTES)).slice(0, 19)

export const pricingHistoryProjection: Projection<typeof HANDLES[number]> = {
  name: 'pricing-history',
  handles: HANDLES,
  tables: ['pricing_snapshots_clean', 'spot_pools', 'pricing_buckets'],
  // A random uuid per row: on a rebuild, one sorted build at the end instead of a B-tree insert per snapshot.
  replayIdempotentKeys: ['uq_pricing_event'],
  async apply(db, snaps) {
    const rows = valuesText(SNAPSHOT_COLUMNS, snaps.map((e) => ({
      event_id: e.eventId, pool_id: e.data.poolId, instance_type: e.data.instanceType, region: e.data.region,
      az: e.data.az, spot_price: e.data.spotPrice, ondemand_price: e.data.onDemandPrice,
      time_bucket: fiveMinuteBucket(e.data.observedAt), observed_at: toDbTime(e.data.observedAt), source_type: e.data.sourceType,
    })))
    for (const chunk of rows) {
      await db.insertInto('pricing_snapshots_clean').columns(SNAPSHOT_COLUMNS).expression(chunk).onDuplicateKeyUpdate({ event_id: sql`event_id` }).execute()
    }

    const pools = new Map(snaps.map((e) => [e.data.poolId, e.data]))
    await db.insertInto('spot_pools').values([...pools.values()].sort((a, b) => a.poolId.localeCompare(b.poolId)).map((d) => ({
      id: d.poolId, instance_type: d.instanceType, region: d.region, az: d.az,
    }))).onDuplicateKeyUpdate({ id: sql`id` }).execute()

    await db.insertInto('pricing_buckets').values(bucketsOf(snaps).map((b) => ({
      pool_id: b.poolId, granularity: b.granularity, bucket_start: b.start, samples: b.samples, spot_sum: fromMicro(b.spot),
      ondemand_samples: b.odSamples, ondemand_sum: fromMicro(b.od),
    }))).onDuplicateKeyUpdate({
      samples: sql`samples + VALUES(samples)`, spot_sum: sql`spot_sum + VALUES(spot_sum)`,
      ondemand_samples: sql`ondemand_samples + VALUES(ondemand_samples)`, ondemand_sum: sql`ondemand_sum + VALUES(ondemand_sum)`,
    }).execute()
  },
}
