/**
 * The cost, pool-reliability and price-history projections fed the same
 * inputs and decisions in several random cross-topic interleavings (each
 * topic's order kept, each decision right after its cause, random batch
 * sizes) give identical rows; and calling the procedures for every day of
 * the history then changes no row, and each day's savings equal the sum of
 * its cost records; migration 019's backfill of pricing_buckets from the
 * snapshots gives the rows the projection made.
 */
import fc from 'fast-check'
import { type Kysely, sql } from 'kysely'
import t from 'tap'
import type { Database } from '../../src/db/database.js'
import { toDbTime } from '../../src/db/time.js'
import { applyProjections, type Projection } from '../../src/log/projection.js'
import { costProjection } from '../../src/projections/cost.projection.js'
import { poolReliabilityProjection } from '../../src/projections/pool-reliability.projection.js'
import { pricingHistoryProjection } from '../../src/projections/pricing-history.projection.js'
import { up as migration019 } from '../../db/migrations/019_pricing_buckets.js'
import { freshDatabase } from '../helper-db.js'
import { normalise } from '../db/schema-snapshot.js'
import { batches, fleetHistory, interleave, prng } from './fixtures/fleet-history.js'

const { db } = await freshDatabase(t, { migrate: true })

/** Stands in for the interruptions projection (not under test here): one row per recorded signal. */
const interruptions: Projection<'decision.signal_recorded'> = {
  name: 'test-interruptions', handles: ['decision.signal_recorded'], tables: ['spot_interruption_events'],
  async apply(db, events) {
    await db.insertInto('spot_interruption_events').values(events.map((d) => ({
      event_id: d.causeEventId, client_id: d.clientId, agent_id: d.agentId, instance_id: d.data.instanceId, pool_id: d.data.poolId,
      signal_type: d.data.signalType, detected_at: toDbTime(d.data.detectedAt),
      termination_time: d.data.terminationTime === null ? null : toDbTime(d.data.terminationTime), response_action: d.data.responseAction,
    }))).execute()
  },
}
const projections = [interruptions, costProjection, poolReliabilityProjection, pricingHistoryProjection] as readonly Projection[]

export const TABLES = ['cost_price_points', 'cost_records', 'client_savings_daily', 'pool_reliability_metrics', 'pricing_snapshots_clean', 'spot_pools', 'pricing_buckets'] as const
const SKIP = new Set(['id', 'created_at'])

export async function rowsOf(db: Kysely<Database>, table: string): Promise<string[]> {
  const r = await sql<Record<string, unknown>>`SELECT * FROM ${sql.table(table)}`.execute(db)
  return r.rows.map((row) => JSON.stringify(Object.entries(row).filter(([k]) => !SKIP.has(k)).map(([k, v]) => [k, normalise(v)]))).sort()
}

async function snapshot(): Promise<Record<string, string[]>> {
  return Object.fromEntries(await Promise.all(TABLES.map(async (x) => [x, await rowsOf(db, x)] as const)))
}

async function reset(): Promise<void> {
  for (const x of [...TABLES, 'spot_interruption_events']) await sql`TRUNCATE TABLE ${sql.table(x)}`.execute(db)
}

const seed = Number(process.env.FC_SEED ?? Date.now() % 2 ** 31)

t.test('same rows whatever the interleaving; the procedures change none', async (t) => {
  t.comment(`fast-check seed ${seed} (FC_SEED=${seed} to repeat)`)
  await fc.assert(fc.asyncProperty(fc.integer({ min: 1, max: 2 ** 30 }), async (historySeed) => {
    const h = fleetHistory(historySeed, { clients: 2, agents: 2, steps: 20 })
    let first: Record<string, string[]> | undefined
    for (let k = 0; k < 3; k++) {
      await reset()
      const rnd = prng(historySeed * 7 + k)
      for (const batch of batches(interleave(h, rnd), rnd)) {
        await db.transaction().setIsolationLevel('read committed').execute((trx) => applyProjections(trx, projections, batch))
      }
      const rows = await snapshot()
      if (first === undefined) first = rows
      else t.strictSame(rows, first, `interleaving ${k} gives the rows of interleaving 0`)
      if (JSON.stringify(rows) !== JSON.stringify(first)) return false
    }
    t.ok(first!.cost_records!.length > 0, 'the history accrued cost')

    for (const day of h.days) {
      await sql`CALL compute_daily_savings(${day})`.execute(db)
      await sql`CALL compute_pool_reliability_window(${`${day} 00:00:00`}, ${`${day} 00:00:00`} + INTERVAL 1 DAY)`.execute(db)
    }
    const after = await snapshot()
    for (const x of TABLES) t.strictSame(after[x], first![x], `${x}: the procedures change no row`)
    await migration019(db) // its backfill recomputes pricing_buckets from the snapshots
    t.strictSame(await rowsOf(db, 'pricing_buckets'), first!.pricing_buckets, 'pricing_buckets: the migration\'s backfill gives the projection\'s rows')

    const mismatch = await sql<{ client_id: string, date: string }>`
      SELECT d.client_id, d.date FROM client_savings_daily d
        LEFT JOIN (SELECT client_id, record_date, SUM(actual_cost) AS a, SUM(baseline_cost) AS b, SUM(savings) AS s, SUM(hours) AS h
                     FROM cost_records GROUP BY client_id, record_date) c ON c.client_id = d.client_id AND c.record_date = d.date
       WHERE COALESCE(c.a, 0) <> d.actual_cost OR COALESCE(c.b, 0) <> d.baseline_cost OR COALESCE(c.s, 0) <> d.savings OR COALESCE(c.h, 0) <> d.instance_hours`.execute(db)
    t.strictSame(mismatch.rows, [], 'daily savings equal the sum of their cost records')
    return JSON.stringify(after) === JSON.stringify(first) && mismatch.rows.length === 0
  }), { seed, numRuns: 4 })
})
