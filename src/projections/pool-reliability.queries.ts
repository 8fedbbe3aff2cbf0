/** Read queries: the safest-pool ranking (30 days) and time to interruption per pool. */
import type { Kysely } from 'kysely'
import type { Database, PoolReliabilityRankingRow } from '../db/database.js'
import { fromDbTime, toDbTime } from '../db/time.js'

/** Pools ranked safest first: fewest interruptions over 30 days, then the cheaper average spot price. */
export async function poolRanking(db: Kysely<Database>): Promise<PoolReliabilityRankingRow[]> {
  const rows = await db.selectFrom('v_pool_reliability_ranking').selectAll().execute()
  const price = (r: PoolReliabilityRankingRow) => (r.avg_spot_price === null ? Number.POSITIVE_INFINITY : Number(r.avg_spot_price))
  return rows.sort((a, b) => Number(a.interruptions_30d ?? 0) - Number(b.interruptions_30d ?? 0) || price(a) - price(b) || a.pool_id.localeCompare(b.pool_id))
}

export interface TimeToInterruption {
  poolId: string
  /** Termination notices with a known instance start. */
  samples: number
  /** Hours the instance ran before its termination notice (nearest rank). */
  p50Hours: number
  p90Hours: number
}

/**
 * How long instances ran before a termination notice, per pool, over the
 * `days` before `now`: from the first price point naming the instance
 * (registration, switch or failover onto it) to the notice.
 */
export async function timeToInterruption(db: Kysely<Database>, opts: { days?: number, now?: Date } = {}): Promise<TimeToInterruption[]> {
  const now = opts.now ?? new Date()
  const from = new Date(now.getTime() - (opts.days ?? 30) * 86_400_000)
  const rows = await db.selectFrom('spot_interruption_events as s')
    .innerJoin('cost_price_points as p', (j) => j.onRef('p.agent_id', '=', 's.agent_id').onRef('p.instance_id', '=', 's.instance_id'))
    .select((eb) => ['s.pool_id', 's.detected_at', eb.fn.min('p.at').as('started_at')])
    .where('s.signal_type', '=', 'termination-notice').where('s.pool_id', 'is not', null)
    .where('s.detected_at', '>=', toDbTime(from)).where('s.detected_at', '<', toDbTime(now))
    .groupBy(['s.id', 's.pool_id', 's.detected_at']).execute()
  const byPool = new Map<string, number[]>()
  for (const r of rows) {
    const ran = fromDbTime(r.detected_at).getTime() - fromDbTime(r.started_at).getTime()
    if (r.pool_id === null || ran < 0) continue
    byPool.set(r.pool_id, [...byPool.get(r.pool_id) ?? [], ran / 3_600_000])
  }
  return [...byPool].map(([poolId, hours]) => {
    const sorted = hours.sort((a, b) => a - b)
    const rank = (q: number) => sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)]!
    return { poolId, samples: sorted.length, p50Hours: rank(0.5), p90Hours: rank(0.9) }
  }).sort((a, b) => a.poolId.localeCompare(b.poolId))
}

const num = (d: string | null) => (d === null ? null : Number(d))

/**
 * The safest-pools table: the ranking (safest first) with each pool's 30-day
 * counts, score and average price, beside how long its instances ran before
 * a termination notice.
 */
export async function poolReliability(db: Kysely<Database>, now = new Date()) {
  const [ranking, ran] = await Promise.all([poolRanking(db), timeToInterruption(db, { now })])
  const tti = new Map(ran.map((r) => [r.poolId, r]))
  return ranking.map((r, i) => {
    const t = tti.get(r.pool_id)
    return {
      rank: i + 1, poolId: r.pool_id, score: num(r.avg_reliability_score),
      interruptions: Number(r.interruptions_30d ?? 0), terminations: Number(r.terminations_30d ?? 0), rebalances: Number(r.rebalances_30d ?? 0),
      interruptions7d: Number(r.interruptions_7d ?? 0), instanceHours: Number(r.instance_hours_30d ?? 0),
      instanceHoursInterrupted: Number(r.instance_hours_interrupted_30d ?? 0), avgSpotPrice: num(r.avg_spot_price),
      timeToInterruption: { samples: t?.samples ?? 0, p50Hours: t?.p50Hours ?? null, p90Hours: t?.p90Hours ?? null },
    }
  })
}
