/**
 * The read queries beside the projections, on rows the projections wrote:
 * savings per day and week, price history per hour, time to interruption
 * (p50/p90 per pool) and the 30-day safest-pool ranking.
 */
import t from 'tap'
import { applyProjections, type Projection } from '../../src/log/projection.js'
import type { StoredEvent } from '../../src/log/stored-event.js'
import { toDbTime } from '../../src/db/time.js'
import { costProjection } from '../../src/projections/cost.projection.js'
import { poolReliabilityProjection } from '../../src/projections/pool-reliability.projection.js'
import { pricingHistoryProjection } from '../../src/projections/pricing-history.projection.js'
import { clientSavings, percentage } from '../../src/projections/savings.queries.js'
import { poolRanking, timeToInterruption } from '../../src/projections/pool-reliability.queries.js'
import { priceHistory } from '../../src/projections/pricing-history.queries.js'
import { uuidOf } from '../ingest/fixtures/stream.js'
import { freshDatabase } from '../helper-db.js'

const { db } = await freshDatabase(t, { migrate: true })

// Relative to now: the ranking view counts the last 30 days of the server's clock.
const DAY0 = Math.floor(Date.now() / 86_400_000) * 86_400_000 - 3 * 86_400_000
const H = 3_600_000
const C = uuidOf('q:client')
const A = uuidOf('q:agent')
const PA = 'm5.large.us-east-1a'
const PB = 'm5.large.us-east-1b'
let n = 0
const env = (at: number) => ({ eventId: uuidOf(`q:${n++}`), version: 1 as const, occurredAt: new Date(at).toISOString(), clientId: C, agentId: A })
const heartbeat = (at: number, poolId: string, instanceId: string, spotPrice: string): StoredEvent =>
  ({ ...env(at), type: 'agent.heartbeat', data: { status: 'online', instanceId, mode: 'spot', poolId, spotPrice, onDemandPrice: '0.1' } })
const snapshot = (at: number, poolId: string, spotPrice: string): StoredEvent => ({ ...env(at), type: 'pricing.snapshot', data: {
  poolId, instanceType: 'm5.large', region: 'us-east-1', az: poolId.split('.').at(-1)!, spotPrice, onDemandPrice: '0.1', observedAt: new Date(at).toISOString(), sourceType: 'agent' } })
function notice(at: number, poolId: string, instanceId: string): StoredEvent[] {
  const e = { ...env(at), type: 'spot.termination_notice' as const, data: { instanceId, poolId, terminationTime: new Date(at + 120_000).toISOString() } }
  return [e, { ...env(at), causeEventId: e.eventId, type: 'decision.signal_recorded', data: {
    signalType: 'termination-notice', instanceId, poolId, detectedAt: e.occurredAt, terminationTime: e.data.terminationTime,
    responseAction: 'emergency-snapshot', replicaId: null, responseTimeMs: 0, failoverTimeMs: null, success: false, error: null, clockSkewMs: 0 } }]
}
const interruptions: Projection<'decision.signal_recorded'> = {
  name: 'test-interruptions', handles: ['decision.signal_recorded'], tables: ['spot_interruption_events'],
  async apply(db, events) {
    await db.insertInto('spot_interruption_events').values(events.map((d) => ({
      event_id: d.causeEventId, client_id: d.clientId, agent_id: d.agentId, instance_id: d.data.instanceId, pool_id: d.data.poolId,
      signal_type: d.data.signalType, detected_at: toDbTime(d.data.detectedAt), response_action: d.data.responseAction,
    }))).execute()
  },
}

// i-1 in pool A from DAY0 00:00 (price 0.04), notice after 2 h; i-2 in pool A from DAY0 12:00, notice after 10 h;
// i-3 in pool B from DAY0+1 06:00 (price 0.05) to DAY0+2 00:00, no notice.
const events: StoredEvent[] = [
  heartbeat(DAY0, PA, 'i-1', '0.04'), ...notice(DAY0 + 2 * H, PA, 'i-1'),
  heartbeat(DAY0 + 12 * H, PA, 'i-2', '0.04'), ...notice(DAY0 + 22 * H, PA, 'i-2'),
  heartbeat(DAY0 + 30 * H, PB, 'i-3', '0.05'), heartbeat(DAY0 + 48 * H, PB, 'i-3', '0.05'),
  snapshot(DAY0 + 10 * 60_000, PA, '0.04'), snapshot(DAY0 + 20 * 60_000, PA, '0.05'), snapshot(DAY0 + 70 * 60_000, PA, '0.03'),
]
await db.transaction().execute((trx) => applyProjections(trx, [interruptions, costProjection, poolReliabilityProjection, pricingHistoryProjection] as readonly Projection[], events))
const date = (d: number) => new Date(DAY0 + d * 86_400_000).toISOString().slice(0, 10)

t.test('savings per day', async (t) => {
  const days = await clientSavings(db, C, 'daily', date(0), date(3))
  // Day 0: 30 h of the first day at 0.04 against 0.1 -> 24 h; day 1: 6 h at 0.04 + 18 h at 0.05.
  t.strictSame(days.map((d) => [d.period, d.instanceHours, d.actualCost, d.baselineCost, d.savings, d.savingsPercentage, d.interruptionCount]), [
    [date(0), '24.000000', '0.960000', '2.400000', '1.440000', '60.00', 2],
    [date(1), '24.000000', '1.140000', '2.400000', '1.260000', '52.50', 0],
  ])
  const weeks = await clientSavings(db, C, 'monthly', date(0), date(3))
  t.ok(weeks.length >= 1 && weeks.length <= 2, 'grouped by month')
  t.equal(percentage('1', '3'), '33.33')
  t.equal(percentage('2', '3'), '66.67')
  t.equal(percentage('0', '0'), '0')
})

t.test('price history per hour and per 5 minutes', async (t) => {
  const from = toDbTime(new Date(DAY0))
  const to = toDbTime(new Date(DAY0 + 2 * H))
  t.strictSame((await priceHistory(db, [PA], from, to, 'hour')).map((p) => [p.time, p.spotPrice]), [
    [`${date(0)} 00:00:00`, '0.045000'], [`${date(0)} 01:00:00`, '0.030000'],
  ])
  t.equal((await priceHistory(db, [PA, PB], from, to, '5m')).length, 3)
})

t.test('time to interruption, p50 and p90 per pool', async (t) => {
  t.strictSame(await timeToInterruption(db, { now: new Date(DAY0 + 3 * 86_400_000) }), [
    { poolId: PA, samples: 2, p50Hours: 2, p90Hours: 10 },
  ])
  t.strictSame(await timeToInterruption(db, { now: new Date(DAY0 + 40 * 86_400_000) }), [], 'older than 30 days: none')
})

t.test('the ranking counts the interruptions: pool B is safer though dearer', async (t) => {
  const ranking = await poolRanking(db)
  t.strictSame(ranking.map((r) => [r.pool_id, Number(r.interruptions_30d)]), [[PB, 0], [PA, 2]])
  t.equal(Number(ranking.find((r) => r.pool_id === PA)!.instance_hours_30d), 30, 'hours observed in pool A: 12 + 18')
})
