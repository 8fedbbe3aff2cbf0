/**
 * The latest known price of each pool of an instance type in a region (from
 * pricing_snapshots_clean, one index probe per pool), for the instance
 * panel's pricing card.
 */
import { sql, type Kysely } from 'kysely'
import type { Database } from '../db/database.js'

export interface PoolPrice { poolId: string, az: string, spotPrice: string | null, onDemandPrice: string | null }

export async function latestPoolPrices(db: Kysely<Database>, instanceType: string, region: string): Promise<PoolPrice[]> {
  const latest = (column: 'spot_price' | 'ondemand_price') => sql<string | null>`(
    SELECT p.${sql.ref(column)} FROM pricing_snapshots_clean p WHERE p.pool_id = spot_pools.id
     ORDER BY p.observed_at DESC, p.id DESC LIMIT 1)`
  const rows = await db.selectFrom('spot_pools')
    .select(['id', 'az', latest('spot_price').as('spot'), latest('ondemand_price').as('od')])
    .where('instance_type', '=', instanceType).where('region', '=', region).where('is_active', '=', 1)
    .orderBy('id').execute()
  return rows.map((r) => ({ poolId: r.id, az: r.az, spotPrice: r.spot, onDemandPrice: r.od }))
}
