/**
 * Price history for the multi-pool charts: one pricing_snapshots_clean row
 * per snapshot event (idempotent on event_id), and the pool registered in
 * spot_pools. Both are commutative, so partition interleaving cannot matter.
 */
import { sql } from 'kysely'
import type { Projection } from '../log/projection.js'
import { toDbTime } from '../db/time.js'

const hourOf = (iso: string) => toDbTime(iso).slice(0, 13) + ':00:00'

export const pricingHistoryProjection: Projection<'pricing.snapshot'> = {
  name: 'pricing-history',
  handles: ['pricing.snapshot'],
  tables: ['pricing_snapshots_clean', 'spot_pools'],
  async apply(db, snaps) {
    await db.insertInto('pricing_snapshots_clean').values(snaps.map((e) => ({
      event_id: e.eventId, pool_id: e.data.poolId, instance_type: e.data.instanceType, region: e.data.region,
      az: e.data.az, spot_price: e.data.spotPrice, ondemand_price: e.data.onDemandPrice,
      time_bucket: hourOf(e.data.observedAt), observed_at: toDbTime(e.data.observedAt), source_type: e.data.sourceType,
    }))).onDuplicateKeyUpdate({ event_id: sql`event_id` }).execute()

    const pools = new Map(snaps.map((e) => [e.data.poolId, e.data]))
    await db.insertInto('spot_pools').values([...pools.values()].map((d) => ({
      id: d.poolId, instance_type: d.instanceType, region: d.region, az: d.az,
    }))).onDuplicateKeyUpdate({ id: sql`id` }).execute()
  },
}
