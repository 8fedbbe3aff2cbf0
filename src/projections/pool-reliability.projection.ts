/**
 * pool_reliability_metrics (DESIGN §5): per pool and UTC hour, the signals
 * recorded (rebalance, termination, and the hours between a termination
 * notice and its termination time) and the spot price samples, kept as
 * count, sum, sum of squares, min and max so they add up incrementally; the
 * average, volatility and score are generated columns over them. Every
 * update is an addition (or LEAST/GREATEST), so any order gives the same
 * rows. Instance-hours observed come from the cost projection's intervals.
 */
import { type QueryCreator, sql } from 'kysely'
import type { Database } from '../db/database.js'
import { inStatements } from '../db/statement-bytes.js'
import { toDbTime } from '../db/time.js'
import type { Projection } from '../log/projection.js'
import { byText } from './cost-intervals.js'
import { fromMicro, fromPico, hoursMicroOfMs, toMicro } from './fixed-point.js'

const HANDLES = ['decision.signal_recorded', 'pricing.snapshot'] as const

interface Bucket {
  poolId: string
  bucket: string
  rebalances: number
  terminations: number
  interrupted: bigint
  samples: number
  sum: bigint
  sqSum: bigint
  min: bigint | null
  max: bigint | null
}

const hourOf = (iso: string) => `${toDbTime(iso).slice(0, 13)}:00:00`

export const poolReliabilityProjection: Projection<typeof HANDLES[number]> = {
  name: 'pool-reliability',
  handles: HANDLES,
  tables: ['pool_reliability_metrics'],
  async apply(db: QueryCreator<Database>, events) {
    const buckets = new Map<string, Bucket>()
    const at = (poolId: string, bucket: string) => {
      const k = `${poolId}|${bucket}`
      const b = buckets.get(k) ?? { poolId, bucket, rebalances: 0, terminations: 0, interrupted: 0n, samples: 0, sum: 0n, sqSum: 0n, min: null, max: null }
      buckets.set(k, b)
      return b
    }
    for (const e of events) {
      if (e.type === 'pricing.snapshot') {
        const b = at(e.data.poolId, hourOf(e.data.observedAt))
        const p = toMicro(e.data.spotPrice)
        b.samples++; b.sum += p; b.sqSum += p * p
        b.min = b.min === null || p < b.min ? p : b.min
        b.max = b.max === null || p > b.max ? p : b.max
      } else {
        const d = e.data
        const b = at(d.poolId, hourOf(d.detectedAt))
        if (d.signalType === 'rebalance-recommendation') b.rebalances++
        else {
          b.terminations++
          const left = d.terminationTime === null ? 0 : Date.parse(d.terminationTime) - Date.parse(d.detectedAt)
          if (left > 0) b.interrupted += hoursMicroOfMs(left)
        }
      }
    }
    if (buckets.size === 0) return
    const rows = [...buckets.values()].sort((a, b) => byText(a.poolId, b.poolId) || byText(a.bucket, b.bucket))
    await inStatements(rows.map((b) => ({
      pool_id: b.poolId, bucket_start: b.bucket, interruption_count: b.rebalances + b.terminations,
      rebalance_count: b.rebalances, termination_count: b.terminations, instance_hours_interrupted: fromMicro(b.interrupted),
      price_samples: b.samples, price_sum: fromMicro(b.sum), price_sq_sum: fromPico(b.sqSum),
      price_min: b.min === null ? null : fromMicro(b.min), price_max: b.max === null ? null : fromMicro(b.max),
    })), (chunk) => db.insertInto('pool_reliability_metrics').values(chunk).onDuplicateKeyUpdate({
      interruption_count: sql`interruption_count + VALUES(interruption_count)`,
      rebalance_count: sql`rebalance_count + VALUES(rebalance_count)`,
      termination_count: sql`termination_count + VALUES(termination_count)`,
      instance_hours_interrupted: sql`instance_hours_interrupted + VALUES(instance_hours_interrupted)`,
      price_samples: sql`price_samples + VALUES(price_samples)`,
      price_sum: sql`price_sum + VALUES(price_sum)`,
      price_sq_sum: sql`price_sq_sum + VALUES(price_sq_sum)`,
      // LEAST/GREATEST with a NULL give NULL: take whichever side is known.
      price_min: sql`COALESCE(LEAST(price_min, VALUES(price_min)), price_min, VALUES(price_min))`,
      price_max: sql`COALESCE(GREATEST(price_max, VALUES(price_max)), price_max, VALUES(price_max))`,
    }).execute())
  },
}
