/**
 * Price history for the multi-pool charts: one pricing_snapshots_clean row
 * per snapshot event (idempotent on event_id) in its 5-minute bucket, and the
 * pool registered in spot_pools. Both are commutative, so partition
 * interleaving cannot matter. Read queries: pricing-history.queries.ts.
 */
import { sql } from 'kysely'
import { toDbTime } from '../db/time.js'
import type { Projection } from '../log/projection.js'

const HANDLES = ['pricing.snapshot'] as const
const FIVE_MINUTES = 5 * 60_000

/** observedAt truncated to its 5-minute bucket, as a DATETIME. */
export const fiveMinuteBucket = (iso: string) => toDbTime(new Date(Math.floor(Date.parse(iso) / FIVE_MINUTES) * FIVE_MINUTES)).slice(0, 19)

export const pricingHistoryProjection: Projection<typeof HANDLES[number]> = {
  name: 'pricing-history',
  handles: HANDLES,
  tables: ['pricing_snapshots_clean', 'spot_pools'],
  async apply(db, snaps) {
    await db.insertInto('pricing_snapshots_clean').values(snaps.map((e) => ({
      event_id: e.eventId, pool_id: e.data.poolId, instance_type: e.data.instanceType, region: e.data.region,
      az: e.data.az, spot_price: e.data.spotPrice, ondemand_price: e.data.onDemandPrice,
      time_bucket: fiveMinuteBucket(e.data.observedAt), observed_at: toDbTime(e.data.observedAt), source_type: e.data.sourceType,
    }))).onDuplicateKeyUpdate({ event_id: sql`event_id` }).execute()

    const pools = new Map(snaps.map((e) => [e.data.poolId, e.data]))
    await db.insertInto('spot_pools').values([...pools.values()].sort((a, b) => a.poolId.localeCompare(b.poolId)).map((d) => ({
      id: d.poolId, instance_type: d.instanceType, region: d.region, az: d.az,
    }))).onDuplicateKeyUpdate({ id: sql`id` }).execute()
  },
}
