/**
 * Cost accrual (DESIGN §5): cost_price_points (one row per event that carries
 * a price, mode or pool), cost_records (the intervals between an agent's
 * points, cut at UTC midnight) and client_savings_daily (the same amounts,
 * plus switch, interruption and failover counts, per client and date); also
 * the instance-hours-observed column of pool_reliability_metrics, since the
 * hours come from the same intervals (added there, commutatively, beside the
 * pool-reliability projection's columns).
 *
 * Per batch: one read of the affected points (each agent's latest; a second
 * only for agents with late points: the one before the earliest and all after it), the merge
 * in memory (cost-intervals.ts), then one upsert per table with the
 * difference. Rows are a function of the points, so arrival order does not
 * matter and a late point corrects the past intervals it falls in.
 */
import { type QueryCreator, sql } from 'kysely'
import type { CostPricePointRow, Database, NewCostPricePoint, NewCostRecord } from '../db/database.js'
import { fromDbTime, toDbTime } from '../db/time.js'
import type { Projection } from '../log/projection.js'
import type { StoredOf } from '../log/stored-event.js'
import {
  type CostPiece, type PricePoint, type StoredPoint, byText, comparePoints, dayDeltas, diffPieces, mergePoints, poolHourDeltas,
} from './cost-intervals.js'
import { fromMicro } from './fixed-point.js'
// A late or skewed point (a signal dated 1970) can reshape years of intervals and hour buckets at once: every write and delete is cut by bytes.
import { inStatements, valuesText } from '../db/statement-bytes.js'

const HANDLES = [
  'agent.registered', 'agent.heartbeat', 'agent.instance_switched',
  'decision.failover_executed', 'decision.replica_promoted', 'decision.signal_recorded',
  // Only for their time: a failover or promotion takes effect when its cause happened, not when it was decided.
  'spot.termination_notice', 'spot.rebalance_recommendation', 'user.replica_promote_requested',
] as const
type Handled = StoredOf<typeof HANDLES[number]>

const ms = (iso: string) => Date.parse(iso)
const dbTime = (t: number) => toDbTime(new Date(t))

/** The price point an event is, if it is one. `causeTime` maps an input's id to its occurredAt. */
export function pricePointOf(e: Handled, causeTime: ReadonlyMap<string, string>): PricePoint | null {
  const base = { agentId: e.agentId, clientId: e.clientId, eventId: e.eventId }
  switch (e.type) {
    case 'agent.registered': {
      const d = e.data
      return { ...base, at: ms(e.occurredAt), kind: 'registered', carried: { instanceId: d.instanceId, poolId: `${d.instanceType}.${d.az}`, mode: d.mode, spotPrice: d.spotPrice, onDemandPrice: d.onDemandPrice } }
    }
    case 'agent.heartbeat': {
      const d = e.data
      return { ...base, at: ms(e.occurredAt), kind: 'heartbeat', carried: { instanceId: d.instanceId, poolId: d.poolId, mode: d.mode, spotPrice: d.spotPrice, onDemandPrice: d.onDemandPrice } }
    }
    case 'agent.instance_switched': {
      const d = e.data
      return { ...base, at: ms(e.occurredAt), kind: 'switch', carried: { instanceId: d.newInstanceId, poolId: d.newPoolId, mode: null, spotPrice: d.newSpotPrice, onDemandPrice: d.onDemandPrice } }
    }
    case 'decision.failover_executed':
    case 'decision.replica_promoted': {
      const d = e.data
      return {
        ...base, at: ms(causeTime.get(e.causeEventId) ?? e.occurredAt), kind: e.type === 'decision.failover_executed' ? 'failover' : 'promotion',
        carried: { instanceId: d.newInstanceId, poolId: d.newPoolId, mode: null, spotPrice: d.newSpotPrice, onDemandPrice: d.onDemandPrice },
      }
    }
    default: return null
  }
}

type Db = QueryCreator<Database>

/**
 * Each agent's window around its new points. One read in the usual case
 * (one per 900 agents): every agent's latest points (a loose index scan of
 * the primary key); an
 * agent whose new points are all after its latest needs nothing else. Only
 * agents with late points (at or before their latest) take a second read:
 * the last point before the earliest new one, and every point from there on
 * (mergePoints stops at the first full one). Bounds are constants, so each
 * is an index range.
 */
async function loadWindows(db: Db, fresh: ReadonlyMap<string, PricePoint[]>, carried: Heads | null): Promise<Map<string, StoredPoint[]>> {
  const byAgent = new Map<string, StoredPoint[]>()
  if (fresh.size === 0) return byAgent
  const agents = [...fresh.keys()]
  const heads: StoredPoint[] = []
  const unknown: string[] = []
  for (const a of agents) {
    const h = carried?.get(a)
    if (h) heads.push(...h)
    else unknown.push(a)
  }
  for (let i = 0; i < unknown.length; i += HEADS_PER_STATEMENT) heads.push(...(await headsOf(db, unknown.slice(i, i + HEADS_PER_STATEMENT))).map(storedPoint))
  const earliest = new Map([...fresh].map(([agentId, points]) => [agentId, Math.min(...points.map((p) => p.at))]))
  const late = new Set(heads.filter((p) => p.at >= earliest.get(p.agentId)!).map((p) => p.agentId))
  const lateRows = await lateWindows(db, [...late].map((agentId) => ({ agentId, minAt: dbTime(earliest.get(agentId)!) })))
  for (const p of [...heads.filter((h) => !late.has(h.agentId)), ...lateRows.map(storedPoint)]) {
    const list = byAgent.get(p.agentId) ?? []
    list.push(p)
    byAgent.set(p.agentId, list)
  }
  for (const list of byAgent.values()) list.sort(comparePoints)
  return byAgent
}

function storedPoint(r: CostPricePointRow): StoredPoint {
  return {
    agentId: r.agent_id, clientId: r.client_id, at: fromDbTime(r.at).getTime(), eventId: r.event_id, kind: r.kind,
    carried: { instanceId: r.instance_id, poolId: r.pool_id, mode: r.mode, spotPrice: money(r.spot_price), onDemandPrice: money(r.ondemand_price) },
    state: { instanceId: r.eff_instance_id, poolId: r.eff_pool_id, mode: r.eff_mode, spotPrice: money(r.eff_spot_price), onDemandPrice: money(r.eff_ondemand_price) },
  }
}

/**
 * Each agent's latest points (all those at its latest time) as a rebuild has
 * written them: what headsOf would read back. Carried from page to page, so a
 * rebuild reads an agent's head only the first time it meets the agent.
 */
type Heads = Map<string, StoredPoint[]>

/** The points of one agent at its latest time, after `written` (new and changed points) went over `window`. */
function headAfter(window: readonly StoredPoint[], written: readonly StoredPoint[]): StoredPoint[] {
  const all = new Map(window.map((p) => [p.eventId, p]))
  for (const p of written) all.set(p.eventId, p)
  let at = -Infinity
  for (const p of all.values()) at = Math.max(at, p.at)
  // As stored and read back: prices in the canonical text the DECIMAL columns give.
  const canon = <X extends { spotPrice: string | null, onDemandPrice: string | null }>(x: X): X => ({ ...x, spotPrice: money(x.spotPrice), onDemandPrice: money(x.onDemandPrice) })
  return [...all.values()].filter((p) => p.at === at).map((p) => ({ ...p, carried: canon(p.carried), state: canon(p.state) }))
}

/**
 * Agents per heads statement. MariaDB turns an IN list of 1,000 values or more
 * (in_predicate_conversion_threshold) into a join with a table of values,
 * which loses the loose index scan: the MAX(at) then reads every point of
 * every agent, the whole history (4 s at 2,000 agents and 570k points,
 * against 0.1 s for 999). A replay page holds thousands of agents.
 */
const HEADS_PER_STATEMENT = 900

/**
 * Each agent's latest points (a loose index scan of the primary key). The
 * index is named: every index of the table starts with agent_id, so without
 * it MariaDB dives into all three for each agent of the IN list while it
 * plans, which took longer than running the statement (5-40 ms against 2 ms
 * for 77 agents, on the loaded machine; the heaviest statement of a live stream).
 */
function headsOf(db: Db, agents: readonly string[]) {
  // sql.table, not the bare name: a rebuild binds `db` to its shadow schema with withSchema(), which only qualifies table nodes.
  const latest = sql<{ agent_id: string, at: string }>`(SELECT agent_id, MAX(at) AS at FROM ${sql.table('cost_price_points')} FORCE INDEX (PRIMARY)
    WHERE agent_id IN (${sql.join([...agents])}) GROUP BY agent_id)`.as('l')
  return db.selectFrom('cost_price_points as p').innerJoin(latest, (j) => j.onRef('l.agent_id', '=', 'p.agent_id').onRef('l.at', '=', 'p.at'))
    .selectAll('p').execute()
}

/**
 * The late agents' windows: every point at or after the agent's earliest new
 * one, and the points at the last time before it. The keys come from two
 * SELECTs on the primary key, each an OR of one range per agent (the time
 * before from a scalar MAX: one index dive, NULL when there is none), and the
 * rows from a join on them, as in headsOf. The index is named: unnamed,
 * MariaDB dived into all three agent_id indexes for each range while planning
 * (218 of the 250 ms for 400 agents). A part per agent (a derived table each,
 * for its LIMIT) built a temporary table per agent. 400 late agents: 359 ms
 * before, 130 ms.
 */
async function lateWindows(db: Db, agents: readonly { agentId: string, minAt: string }[]): Promise<CostPricePointRow[]> {
  const rows: CostPricePointRow[] = []
  // sql.table, not the bare name: a rebuild binds `db` to its shadow schema (see headsOf).
  const points = sql.table('cost_price_points')
  for (let i = 0; i < agents.length; i += HEADS_PER_STATEMENT) {
    const chunk = agents.slice(i, i + HEADS_PER_STATEMENT)
    const after = chunk.map(({ agentId, minAt }) => sql`(agent_id = ${agentId} AND at >= ${minAt})`)
    const before = chunk.map(({ agentId, minAt }) =>
      sql`(agent_id = ${agentId} AND at = (SELECT MAX(at) FROM ${points} WHERE agent_id = ${agentId} AND at < ${minAt}))`)
    const keys = sql<{ agent_id: string, at: string }>`(SELECT agent_id, at FROM ${points} FORCE INDEX (PRIMARY) WHERE ${sql.join(after, sql` OR `)}
      UNION SELECT agent_id, at FROM ${points} FORCE INDEX (PRIMARY) WHERE ${sql.join(before, sql` OR `)})`.as('k')
    rows.push(...await db.selectFrom('cost_price_points as p').innerJoin(keys, (j) => j.onRef('k.agent_id', '=', 'p.agent_id').onRef('k.at', '=', 'p.at'))
      .selectAll('p').execute())
  }
  return rows
}

// DECIMAL comes back padded ("0.034500"); the events carry canonical text.
const money = (v: string | null) => (v === null ? null : v.replace(/(\.\d*?)0+$/, '$1').replace(/\.$/, ''))

// The columns pointRow and costRow fill, in the order their VALUES are written (valuesText).
const POINT_COLUMNS = ['agent_id', 'at', 'event_id', 'client_id', 'kind', 'instance_id', 'pool_id', 'mode', 'spot_price', 'ondemand_price',
  'eff_instance_id', 'eff_pool_id', 'eff_mode', 'eff_spot_price', 'eff_ondemand_price'] as const satisfies readonly (keyof NewCostPricePoint)[]
const COST_COLUMNS = ['event_id', 'client_id', 'agent_id', 'instance_id', 'pool_id', 'mode', 'period_start', 'period_end', 'record_date', 'hours',
  'spot_price', 'ondemand_price', 'actual_cost', 'baseline_cost', 'savings'] as const satisfies readonly (keyof NewCostRecord)[]

function pointRow(p: StoredPoint): NewCostPricePoint {
  return {
    agent_id: p.agentId, at: dbTime(p.at), event_id: p.eventId, client_id: p.clientId, kind: p.kind,
    instance_id: p.carried.instanceId, pool_id: p.carried.poolId, mode: p.carried.mode,
    spot_price: p.carried.spotPrice, ondemand_price: p.carried.onDemandPrice,
    eff_instance_id: p.state.instanceId, eff_pool_id: p.state.poolId, eff_mode: p.state.mode,
    eff_spot_price: p.state.spotPrice, eff_ondemand_price: p.state.onDemandPrice,
  }
}

function costRow(p: CostPiece): NewCostRecord {
  return {
    event_id: p.closedBy, client_id: p.clientId, agent_id: p.agentId, instance_id: p.state.instanceId, pool_id: p.state.poolId,
    mode: p.state.mode, period_start: dbTime(p.start), period_end: dbTime(p.end), record_date: p.date,
    hours: fromMicro(p.hours), spot_price: p.state.spotPrice, ondemand_price: p.state.onDemandPrice,
    actual_cost: fromMicro(p.actual), baseline_cost: fromMicro(p.baseline), savings: fromMicro(p.baseline - p.actual),
  }
}

const values = <C extends string>(cols: readonly C[]) =>
  Object.fromEntries(cols.map((c) => [c, sql<any>`VALUES(${sql.ref(c)})`])) as Record<C, ReturnType<typeof sql<any>>>
const plus = <C extends string>(cols: readonly C[]) =>
  Object.fromEntries(cols.map((c) => [c, sql<any>`${sql.ref(c)} + VALUES(${sql.ref(c)})`])) as Record<C, ReturnType<typeof sql<any>>>

/** Drops the buckets among `keys` that hold nothing (all zero is the same as no row; the procedure writes none). */
export async function deleteEmptyBuckets(db: Db, keys: readonly { poolId: string, bucket: string }[]): Promise<void> {
  await inStatements(keys, (chunk) => db.deleteFrom('pool_reliability_metrics')
    .where((eb) => eb.or(chunk.map((k) => eb.and([eb('pool_id', '=', k.poolId), eb('bucket_start', '=', k.bucket)]))))
    .where('interruption_count', '=', 0).where('rebalance_count', '=', 0).where('termination_count', '=', 0)
    .where('instance_hours_observed', '=', '0').where('instance_hours_interrupted', '=', '0').where('price_samples', '=', 0).execute())
}

interface DayRow { clientId: string, date: string, hours: bigint, actual: bigint, baseline: bigint, switches: number, interruptions: number, failovers: number }

export const costProjection: Projection<typeof HANDLES[number]> = {
  name: 'cost',
  handles: HANDLES,
  tables: ['cost_price_points', 'cost_records', 'client_savings_daily'],
  apply: (db, events) => applyCost(db, events, null),
  rebuilding() {
    const heads: Heads = new Map()
    return (db, events) => applyCost(db, events, heads)
  },
}

/** One batch (or rebuild page); `heads` is what a rebuild carries from page to page, null on the live path. */
async function applyCost(db: Db, events: readonly Handled[], heads: Heads | null): Promise<void> {
  const causeTime = new Map<string, string>()
  const fresh = new Map<string, PricePoint[]>()
  const days = new Map<string, DayRow>()
  const day = (clientId: string, date: string) => {
    const k = `${clientId}|${date}`
    const d = days.get(k) ?? { clientId, date, hours: 0n, actual: 0n, baseline: 0n, switches: 0, interruptions: 0, failovers: 0 }
    days.set(k, d)
    return d
  }
  for (const e of events) {
    if (!e.type.startsWith('decision.')) causeTime.set(e.eventId, e.occurredAt)
    if (e.type === 'decision.signal_recorded') {
      const d = day(e.clientId, toDbTime(e.data.detectedAt).slice(0, 10))
      d.interruptions++
      if (e.data.responseAction === 'failover') d.failovers++
      continue
    }
    const p = pricePointOf(e, causeTime)
    if (!p) continue
    const list = fresh.get(p.agentId)
    if (list) list.push(p)
    else fresh.set(p.agentId, [p])
    if (p.kind === 'switch' || p.kind === 'failover' || p.kind === 'promotion') day(p.clientId, dbTime(p.at).slice(0, 10)).switches++
  }

  const windows = await loadWindows(db, fresh, heads)
  const points: StoredPoint[] = []
  const before: CostPiece[] = []
  const after: CostPiece[] = []
  for (const [agentId, list] of fresh) {
    const window = windows.get(agentId) ?? []
    const m = mergePoints(window, list)
    points.push(...m.points)
    if (heads && m.points.length > 0) heads.set(agentId, headAfter(window, m.points))
    const d = diffPieces(m.before, m.after)
    // Only pieces that changed count: equal ones would cancel out anyway.
    const changed = new Set([...d.upserts.map((p) => p.start), ...d.deletes.map((p) => p.start)])
    before.push(...m.before.filter((p) => changed.has(p.start)))
    after.push(...m.after.filter((p) => changed.has(p.start)))
  }
  const diff = diffPieces(before, after)
  for (const t of dayDeltas(before, after).values()) {
    const d = day(t.clientId, t.date)
    d.hours += t.hours; d.actual += t.actual; d.baseline += t.baseline
  }

  if (points.length > 0) {
    for (const chunk of valuesText(POINT_COLUMNS, points.sort((a, b) => byText(a.agentId, b.agentId) || comparePoints(a, b)).map(pointRow))) {
      await db.insertInto('cost_price_points').columns(POINT_COLUMNS).expression(chunk)
        .onDuplicateKeyUpdate(values(['eff_instance_id', 'eff_pool_id', 'eff_mode', 'eff_spot_price', 'eff_ondemand_price'] as const)).execute()
    }
  }
  if (diff.deletes.length > 0) {
    await inStatements(diff.deletes, (chunk) => db.deleteFrom('cost_records').where((eb) => eb.or(chunk.map((k) =>
      eb.and([eb('agent_id', '=', k.agentId), eb('period_start', '=', dbTime(k.start))])))).execute())
  }
  if (diff.upserts.length > 0) {
    for (const chunk of valuesText(COST_COLUMNS, diff.upserts.sort((a, b) => byText(a.agentId, b.agentId) || a.start - b.start).map(costRow))) {
      await db.insertInto('cost_records').columns(COST_COLUMNS).expression(chunk)
        .onDuplicateKeyUpdate(values(['event_id', 'client_id', 'instance_id', 'pool_id', 'mode', 'period_end', 'record_date', 'hours',
          'spot_price', 'ondemand_price', 'actual_cost', 'baseline_cost', 'savings'] as const)).execute()
    }
  }
  const dayRows = [...days.values()].filter((d) => d.hours !== 0n || d.actual !== 0n || d.baseline !== 0n || d.switches + d.interruptions + d.failovers > 0)
  if (dayRows.length > 0) {
    await inStatements(dayRows.sort((a, b) => byText(a.clientId, b.clientId) || byText(a.date, b.date)).map((d) => ({
      client_id: d.clientId, date: d.date, baseline_cost: fromMicro(d.baseline), actual_cost: fromMicro(d.actual),
      savings: fromMicro(d.baseline - d.actual), instance_hours: fromMicro(d.hours),
      switch_count: d.switches, interruption_count: d.interruptions, failover_count: d.failovers,
    })), (chunk) => db.insertInto('client_savings_daily').values(chunk)
      .onDuplicateKeyUpdate(plus(['baseline_cost', 'actual_cost', 'savings', 'instance_hours', 'switch_count', 'interruption_count', 'failover_count'] as const)).execute())
    // A row is all zero only after a late point took amounts away; all zero is the same as no row (the procedure writes none).
    const lowered = dayRows.filter((d) => d.hours < 0n || d.actual < 0n || d.baseline < 0n)
    if (lowered.length > 0) {
      await inStatements(lowered, (chunk) => db.deleteFrom('client_savings_daily').where((eb) => eb.or(chunk.map((d) => eb.and([eb('client_id', '=', d.clientId), eb('date', '=', d.date)]))))
        .where('baseline_cost', '=', '0').where('actual_cost', '=', '0').where('instance_hours', '=', '0')
        .where('switch_count', '=', 0).where('interruption_count', '=', 0).where('failover_count', '=', 0).execute())
    }
  }
  const hours = [...poolHourDeltas(before, after).values()].filter((h) => h.hours !== 0n)
  if (hours.length > 0) {
    await inStatements(hours.sort((a, b) => byText(a.poolId, b.poolId) || a.bucket - b.bucket).map((h) => ({
      pool_id: h.poolId, bucket_start: dbTime(h.bucket).slice(0, 19), instance_hours_observed: fromMicro(h.hours),
    })), (chunk) => db.insertInto('pool_reliability_metrics').values(chunk).onDuplicateKeyUpdate(plus(['instance_hours_observed'] as const)).execute())
    const lowered = hours.filter((h) => h.hours < 0n)
    if (lowered.length > 0) await deleteEmptyBuckets(db, lowered.map((h) => ({ poolId: h.poolId, bucket: dbTime(h.bucket).slice(0, 19) })))
  }
}
