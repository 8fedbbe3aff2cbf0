/**
 * The batch procedures (migration 007, redefined in 011) on a small hand-made
 * history whose results are worked out by hand below: compute_daily_savings(date)
 * (from the price points) and compute_pool_reliability_window(from, to) produce
 * exactly these rows, and the same rows again when called twice.
 */
import { sql } from 'kysely'
import t from 'tap'
import { freshDatabase } from '../helper-db.js'
import { normalise } from './schema-snapshot.js'

const { db } = await freshDatabase(t, { migrate: true })

const C1 = '6f1c2a52-3f7e-4c55-9d8e-0b2f5c0f8a11'
const C2 = '2b8d4e61-9a3c-4f0b-8e7d-1c5a6b9f0e22'
const C3 = '9e0f1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a33'
const A1 = '0d7e4b8a-1c2f-4e3a-8b5d-7a6c9e2f1b33'
const A2 = '1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c44'
const A3 = '2c3d4e5f-6a7b-4c8d-9e0f-1a2b3c4d5e55'
const P1 = 'm5.large.us-east-1a'
const P2 = 'c5.xlarge.us-east-1b'
const DAY = '2026-11-20'

const cost = (client_id: string, agent_id: string, pool_id: string, period_start: string, period_end: string, record_date: string,
  hours: string, actual_cost: string, baseline_cost: string, savings: string) =>
  ({ client_id, agent_id, pool_id, period_start, period_end, record_date, hours, actual_cost, baseline_cost, savings })

await db.insertInto('cost_records').values([
  // 10:30-12:15 in P1: 0.5 h in the 10:00 bucket, 1 h in 11:00, 0.25 h in 12:00.
  cost(C1, A1, P1, `${DAY} 10:30:00`, `${DAY} 12:15:00`, DAY, '1.750000', '0.060375', '0.168000', '0.107625'),
  cost(C1, A2, P2, `${DAY} 11:00:00`, `${DAY} 11:20:00`, DAY, '0.333333', '0.024367', '0.056667', '0.032300'),
  // Ends where the reliability window starts: not observed in it.
  { ...cost(C2, A3, P1, `${DAY} 09:00:00`, `${DAY} 10:00:00`, DAY, '1', '0.096', '0.096', '0'), mode: 'on-demand' },
  // The day before.
  cost(C1, A1, P1, '2026-11-19 23:00:00', `${DAY} 00:00:00`, '2026-11-19', '1', '0.0345', '0.096', '0.0615'),
]).execute()

await db.insertInto('instance_switches').values([
  { client_id: C1, agent_id: A1, switched_at: `${DAY} 12:15:00` },
  { client_id: C1, agent_id: A1, switched_at: '2026-11-21 00:00:00' },
  { client_id: C2, agent_id: A3, switched_at: '2026-11-19 23:59:59.999' },
  { client_id: C2, agent_id: A3, switched_at: `${DAY} 00:00:00` },
]).execute()

await db.insertInto('spot_interruption_events').values([
  { client_id: C1, agent_id: A1, pool_id: P1, signal_type: 'rebalance-recommendation', detected_at: `${DAY} 10:40:00`, response_action: 'replica-created' },
  { client_id: C1, agent_id: A1, pool_id: P1, signal_type: 'termination-notice', detected_at: `${DAY} 11:10:00`, termination_time: `${DAY} 11:12:00`, response_action: 'failover' },
  { client_id: C2, agent_id: A3, pool_id: P2, signal_type: 'termination-notice', detected_at: `${DAY} 12:59:59.500`, termination_time: `${DAY} 13:01:59.500`, response_action: 'emergency-snapshot' },
  { client_id: C2, agent_id: A3, pool_id: P1, signal_type: 'rebalance-recommendation', detected_at: `${DAY} 13:00:00`, response_action: 'no-action' },
  { client_id: C1, agent_id: A1, pool_id: P1, signal_type: 'termination-notice', detected_at: '2026-11-21 00:00:00', response_action: 'failover' },
]).execute()

const snapshot = (pool_id: string, time_bucket: string, spot_price: string) => {
  const [instance_type, az] = [pool_id.split('.').slice(0, 2).join('.'), pool_id.split('.').at(-1)!]
  return { pool_id, instance_type, region: az.slice(0, -1), az, spot_price, time_bucket, observed_at: time_bucket }
}
await db.insertInto('pricing_snapshots_clean').values([
  snapshot(P1, `${DAY} 10:00:00`, '0.0345'), snapshot(P1, `${DAY} 10:00:00`, '0.0351'), snapshot(P1, `${DAY} 11:00:00`, '0.036'),
  snapshot(P2, `${DAY} 12:00:00`, '0.0731'), snapshot(P1, `${DAY} 13:00:00`, '0.05'), snapshot(P2, `${DAY} 09:00:00`, '0.07'),
]).execute()

// Stale read-model rows: the ones inside the recomputed range must go, the others stay.
await db.insertInto('client_savings_daily').values([
  { client_id: C3, date: DAY, savings: '5' },
  { client_id: C3, date: '2026-11-19', savings: '7' },
]).execute()
await db.insertInto('pool_reliability_metrics').values([
  { pool_id: 'stale.pool-1a', bucket_start: `${DAY} 11:00:00`, termination_count: 9 },
  { pool_id: 'stale.pool-1a', bucket_start: `${DAY} 09:00:00`, termination_count: 1 },
]).execute()

async function rows(table: 'client_savings_daily' | 'pool_reliability_metrics') {
  const r = await sql<Record<string, unknown>>`SELECT * FROM ${sql.table(table)}`.execute(db)
  return r.rows.map((row) => Object.fromEntries(Object.entries(row).map(([k, v]) => [k, normalise(v)])))
    .sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1))
}

// compute_daily_savings recomputes a day's cost_records from the price points (migration 011), on a day of its own.
const DAY2 = '2026-11-22'
const point = (client_id: string, agent_id: string, at: string, kind: 'heartbeat' | 'switch', pool_id: string, mode: 'spot' | 'on-demand' | null, spot: string, od: string) =>
  ({ client_id, agent_id, at, event_id: `${agent_id.slice(0, 8)}-0000-4000-8000-${at.replace(/\D/g, '').slice(2, 14)}`, kind, instance_id: 'i-1', pool_id, mode,
    spot_price: spot, ondemand_price: od, eff_instance_id: 'i-1', eff_pool_id: pool_id, eff_mode: mode ?? 'spot', eff_spot_price: spot, eff_ondemand_price: od })

t.test('compute_daily_savings(date)', async (t) => {
  await db.insertInto('cost_price_points').values([
    // 10:30-12:15 in P1 at 0.0345 (1.75 h), then a switch to P2 at 0.0731 until 12:35 (0.333333 h).
    point(C1, A1, `${DAY2} 10:30:00`, 'heartbeat', P1, 'spot', '0.0345', '0.096'),
    point(C1, A1, `${DAY2} 12:15:00`, 'switch', P2, null, '0.0731', '0.096'),
    point(C1, A1, `${DAY2} 12:35:00`, 'heartbeat', P2, 'spot', '0.0731', '0.096'),
    // On demand from 23:00 the day before to 01:00: one hour on each day, no savings.
    point(C2, A3, '2026-11-21 23:00:00', 'heartbeat', P1, 'on-demand', '0.0345', '0.096'),
    point(C2, A3, `${DAY2} 01:00:00`, 'heartbeat', P1, 'on-demand', '0.0345', '0.096'),
  ]).execute()
  await db.insertInto('spot_interruption_events').values([
    { client_id: C1, agent_id: A1, pool_id: P1, signal_type: 'rebalance-recommendation', detected_at: `${DAY2} 10:40:00`, response_action: 'replica-created' },
    { client_id: C1, agent_id: A1, pool_id: P1, signal_type: 'termination-notice', detected_at: `${DAY2} 11:10:00`, termination_time: `${DAY2} 11:12:00`, response_action: 'failover' },
    { client_id: C2, agent_id: A3, pool_id: P2, signal_type: 'termination-notice', detected_at: '2026-11-23 00:00:00', response_action: 'emergency-snapshot' },
  ]).execute()
  await db.insertInto('client_savings_daily').values({ client_id: C3, date: DAY2, savings: '5' }).execute()

  await sql`CALL compute_daily_savings(${DAY2})`.execute(db)
  const first = await rows('client_savings_daily')
  const day = (client_id: string, date: string, v: Partial<Record<string, string>>) => ({
    client_id, date, baseline_cost: '0', actual_cost: '0', savings: '0', savings_percentage: '0', instance_hours: '0',
    switch_count: '0', interruption_count: '0', failover_count: '0', ...v,
  })
  t.strictSame(first, [
    day(C2, DAY2, { baseline_cost: '0.096', actual_cost: '0.096', instance_hours: '1' }),
    day(C1, DAY2, {
      // 0.168 + 0.032 (0.333333 × 0.096 = 0.031999968); 0.060375 + 0.024367 (0.333333 × 0.0731 = 0.0243666…)
      baseline_cost: '0.2', actual_cost: '0.084742', savings: '0.115258', savings_percentage: '57.63',
      instance_hours: '2.083333', switch_count: '1', interruption_count: '2', failover_count: '1',
    }),
    day(C3, DAY, { savings: '5' }),
    day(C3, '2026-11-19', { savings: '7' }),
  ].sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1)))
  const costs = await db.selectFrom('cost_records').select(['agent_id', 'period_start', 'period_end', 'hours', 'actual_cost', 'baseline_cost'])
    .where('record_date', '=', DAY2).orderBy('agent_id').orderBy('period_start').execute()
  t.strictSame(costs.map((c) => [c.agent_id, c.period_start, c.period_end, normalise(c.hours), normalise(c.actual_cost), normalise(c.baseline_cost)]), [
    [A1, `${DAY2} 10:30:00.000`, `${DAY2} 12:15:00.000`, '1.75', '0.060375', '0.168'],
    [A1, `${DAY2} 12:15:00.000`, `${DAY2} 12:35:00.000`, '0.333333', '0.024367', '0.032'],
    [A3, `${DAY2} 00:00:00.000`, `${DAY2} 01:00:00.000`, '1', '0.096', '0.096'],
  ], 'the day\'s intervals, the one from the day before cut at midnight')
  await sql`CALL compute_daily_savings(${DAY2})`.execute(db)
  t.strictSame(await rows('client_savings_daily'), first, 'a second call gives the same rows')
})

t.test('compute_pool_reliability_window(from, to)', async (t) => {
  await sql`CALL compute_pool_reliability_window(${`${DAY} 10:00:00`}, ${`${DAY} 13:00:00`})`.execute(db)
  const first = await rows('pool_reliability_metrics')
  const bucket = (pool_id: string, hour: string, v: Partial<Record<string, string | null>>) => ({
    pool_id, bucket_start: `${DAY} ${hour}:00:00`, interruption_count: '0', rebalance_count: '0', termination_count: '0',
    instance_hours_observed: '0', instance_hours_interrupted: '0', price_samples: '0', price_sum: '0', price_sq_sum: '0',
    price_min: null, price_max: null, price_avg: null, price_volatility: null, reliability_score: '100', ...v,
  })
  const prices = (samples: string, sum: string, sq: string, min: string, max: string, avg: string, volatility: string) => ({
    price_samples: samples, price_sum: sum, price_sq_sum: sq, price_min: min, price_max: max, price_avg: avg, price_volatility: volatility,
  })
  t.strictSame(first, [
    bucket(P2, '11', { instance_hours_observed: '0.333333' }),
    bucket(P2, '12', {
      interruption_count: '1', termination_count: '1', instance_hours_interrupted: '0.033333', reliability_score: '75',
      ...prices('1', '0.0731', '0.00534361', '0.0731', '0.0731', '0.0731', '0'),
    }),
    bucket(P1, '10', {
      interruption_count: '1', rebalance_count: '1', instance_hours_observed: '0.5', reliability_score: '90',
      // sqrt(0.00242226 / 2 - 0.0348^2) / 0.0348 = 0.0003 / 0.0348
      ...prices('2', '0.0696', '0.00242226', '0.0345', '0.0351', '0.0348', '0.008621'),
    }),
    bucket(P1, '11', {
      interruption_count: '1', termination_count: '1', instance_hours_observed: '1', instance_hours_interrupted: '0.033333',
      reliability_score: '75', ...prices('1', '0.036', '0.001296', '0.036', '0.036', '0.036', '0'),
    }),
    bucket(P1, '12', { instance_hours_observed: '0.25' }),
    bucket('stale.pool-1a', '09', { termination_count: '1', reliability_score: '75' }),
  ].sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1)))
  await sql`CALL compute_pool_reliability_window(${`${DAY} 10:00:00`}, ${`${DAY} 13:00:00`})`.execute(db)
  t.strictSame(await rows('pool_reliability_metrics'), first, 'a second call gives the same rows')
})

t.test('compute_pool_reliability(hours) covers the current hour', async (t) => {
  const now = await sql<{ h: string }>`SELECT DATE_FORMAT(UTC_TIMESTAMP(), '%Y-%m-%d %H:00:00') AS h`.execute(db)
  const hour = now.rows[0]!.h
  await db.insertInto('pricing_snapshots_clean').values(snapshot('r6g.large.eu-west-1a', hour, '0.04')).execute()
  await sql`CALL compute_pool_reliability(2)`.execute(db)
  const r = await db.selectFrom('pool_reliability_metrics').select(['bucket_start', 'price_samples'])
    .where('pool_id', '=', 'r6g.large.eu-west-1a').execute()
  t.strictSame(r, [{ bucket_start: hour, price_samples: 1 }])
})
