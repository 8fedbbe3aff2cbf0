/**
 * The pure core of cost accrual (DESIGN §5). An agent's price points (events
 * that carry a price, mode or pool) are ordered by time, ties by event id.
 * Each point opens an interval that the next point closes; the interval costs
 * the prices in effect at its start, and is cut at every UTC midnight into
 * cost pieces (one cost_records row each). A field a point does not carry
 * (a switch has no mode, a failover may lack prices) stays as the previous
 * point left it. The last point's interval is open and accrues nothing yet.
 *
 * Everything here is a function of the set of points, never of the order in
 * which they arrived: `mergePoints` folds new points into the stored window
 * around them and returns the pieces before and after, whose difference is
 * what the projection writes.
 */
import type { Mode } from '../db/database.js'
import { MICRO, hoursMicroOfMs, mulMicro, toMicro } from './fixed-point.js'

const DAY_MS = 86_400_000
const HOUR_MS = 3_600_000

export type PointKind = 'registered' | 'heartbeat' | 'switch' | 'failover' | 'promotion'

/** What one event says; null = not carried. */
export interface Carried {
  instanceId: string | null
  poolId: string | null
  mode: Mode | null
  spotPrice: string | null
  onDemandPrice: string | null
}

/** The prices, mode and pool in effect from a point on. */
export interface InEffect {
  instanceId: string | null
  poolId: string | null
  mode: Mode
  spotPrice: string | null
  onDemandPrice: string | null
}

export interface PricePoint {
  agentId: string
  clientId: string
  /** Epoch ms. */
  at: number
  eventId: string
  kind: PointKind
  carried: Carried
}

export interface StoredPoint extends PricePoint {
  state: InEffect
}

export interface CostPiece {
  agentId: string
  clientId: string
  /** The point that opened the interval and the event that closed it. */
  openedBy: string
  closedBy: string
  start: number
  end: number
  /** UTC 'YYYY-MM-DD' of start. */
  date: string
  state: InEffect
  hours: bigint
  actual: bigint
  baseline: bigint
}

/**
 * Code-unit order for the keys rows are written in (ids, dates, pool ids):
 * the same total order in every transaction, so concurrent batches lock rows
 * in one order; unlike localeCompare it costs nothing in sorts of 10^5 rows.
 */
export const byText = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)

export const comparePoints = (a: { at: number, eventId: string }, b: { at: number, eventId: string }) =>
  a.at - b.at || (a.eventId < b.eventId ? -1 : a.eventId > b.eventId ? 1 : 0)

/** A point that sets everything its successors could inherit: it ends every inheritance chain. */
export const isFull = (c: Carried) => c.poolId !== null && c.mode !== null && c.spotPrice !== null && c.onDemandPrice !== null

export function resolve(prev: InEffect | null, c: Carried): InEffect {
  return {
    instanceId: c.instanceId ?? prev?.instanceId ?? null,
    poolId: c.poolId ?? prev?.poolId ?? null,
    mode: c.mode ?? prev?.mode ?? 'spot',
    spotPrice: c.spotPrice ?? prev?.spotPrice ?? null,
    onDemandPrice: c.onDemandPrice ?? prev?.onDemandPrice ?? null,
  }
}

/** Field by field: the same prices, mode and pool in effect. */
export const sameState = (a: InEffect, b: InEffect) => a.instanceId === b.instanceId && a.poolId === b.poolId && a.mode === b.mode
  && a.spotPrice === b.spotPrice && a.onDemandPrice === b.onDemandPrice

export const utcDate = (ms: number) => new Date(ms).toISOString().slice(0, 10)

/**
 * The cost pieces of one interval [p.at, end): cut at UTC midnights. No piece
 * when the interval is empty or the prices needed are unknown (a history that
 * starts with a failover that carried none).
 */
export function costPieces(p: StoredPoint, end: number, closedBy: string): CostPiece[] {
  const { state } = p
  const rate = state.mode === 'on-demand' ? state.onDemandPrice : state.spotPrice
  if (end <= p.at || rate === null || state.onDemandPrice === null) return []
  const rateMicro = toMicro(rate)
  const baseMicro = toMicro(state.onDemandPrice)
  const pieces: CostPiece[] = []
  for (let start = p.at; start < end;) {
    const next = Math.min(end, (Math.floor(start / DAY_MS) + 1) * DAY_MS)
    const hours = hoursMicroOfMs(next - start)
    pieces.push({
      agentId: p.agentId, clientId: p.clientId, openedBy: p.eventId, closedBy, start, end: next, date: utcDate(start),
      state, hours, actual: mulMicro(hours, rateMicro), baseline: mulMicro(hours, baseMicro),
    })
    start = next
  }
  return pieces
}

/** A cost piece cut at hour boundaries, each part's hours rounded on its own (as the procedure does). */
export function hourParts(piece: { start: number, end: number }): { bucket: number, hours: bigint }[] {
  const parts: { bucket: number, hours: bigint }[] = []
  for (let start = piece.start; start < piece.end;) {
    const bucket = Math.floor(start / HOUR_MS) * HOUR_MS
    const next = Math.min(piece.end, bucket + HOUR_MS)
    parts.push({ bucket, hours: hoursMicroOfMs(next - start) })
    start = next
  }
  return parts
}

/** Pieces of the intervals opened by points[0 .. upTo), each closed by its successor in `points`. */
function piecesOf(points: readonly StoredPoint[], upTo: number): CostPiece[] {
  const out: CostPiece[] = []
  for (let i = 0; i < upTo; i++) {
    const next = points[i + 1]
    if (next) out.push(...costPieces(points[i]!, next.at, next.eventId))
  }
  return out
}

export interface Merged {
  /** Points to write: the new ones and stored ones whose state in effect changed. */
  points: StoredPoint[]
  before: CostPiece[]
  after: CostPiece[]
}

/**
 * Folds `fresh` points of one agent into `window`: the stored points from the
 * last one before the earliest fresh point up to (at least) the first full
 * point after the latest fresh point, or to the end of the history, sorted.
 * Intervals from that first full point on cannot change, so only the ones
 * before it are recomputed.
 */
export function mergePoints(window: readonly StoredPoint[], fresh: readonly PricePoint[]): Merged {
  const known = new Set(window.map((p) => p.eventId))
  const added = [...new Map(fresh.filter((p) => !known.has(p.eventId)).map((p) => [p.eventId, p])).values()].sort(comparePoints)
  const last = added.at(-1)
  if (!last) return { points: [], before: [], after: [] }
  const addedIds = new Set(added.map((p) => p.eventId))
  const stopOld = window.findIndex((p) => comparePoints(p, last) > 0 && isFull(p.carried))
  const oldEnd = stopOld < 0 ? window.length : stopOld

  const merged: (PricePoint | StoredPoint)[] = [...window, ...added].sort(comparePoints)
  const stopNew = merged.findIndex((p) => !addedIds.has(p.eventId) && comparePoints(p, last) > 0 && isFull(p.carried))
  const newEnd = stopNew < 0 ? merged.length : stopNew

  const points: StoredPoint[] = []
  const resolved: StoredPoint[] = []
  let prev: InEffect | null = null
  for (let i = 0; i < merged.length; i++) {
    const p = merged[i]!
    const isNew = addedIds.has(p.eventId)
    // Points before the first new one keep their state; from the stop point on nothing changes.
    const state: InEffect = i >= newEnd || (!isNew && comparePoints(p, added[0]!) < 0) ? (p as StoredPoint).state : resolve(prev, p.carried)
    const sp: StoredPoint = { ...p, state }
    if (isNew || !sameState(state, (p as StoredPoint).state)) points.push(sp)
    resolved.push(sp)
    prev = state
  }
  return { points, before: piecesOf(window, oldEnd), after: piecesOf(resolved, newEnd) }
}

export interface PieceDiff {
  upserts: CostPiece[]
  /** Keys (agent, start) of stored pieces that no longer exist. */
  deletes: { agentId: string, start: number }[]
}

const pieceKey = (p: CostPiece) => `${p.agentId}|${p.start}`
const samePiece = (a: CostPiece, b: CostPiece) =>
  a.end === b.end && a.closedBy === b.closedBy && a.openedBy === b.openedBy && a.clientId === b.clientId
  && sameState(a.state, b.state)

export function diffPieces(before: readonly CostPiece[], after: readonly CostPiece[]): PieceDiff {
  const old = new Map(before.map((p) => [pieceKey(p), p]))
  const now = new Set(after.map(pieceKey))
  return {
    upserts: after.filter((p) => { const o = old.get(pieceKey(p)); return !o || !samePiece(o, p) }),
    deletes: before.filter((p) => !now.has(pieceKey(p))).map((p) => ({ agentId: p.agentId, start: p.start })),
  }
}

export interface DayTotals { hours: bigint, actual: bigint, baseline: bigint }

/** Per (client, date): Σ after − Σ before. */
export function dayDeltas(before: readonly CostPiece[], after: readonly CostPiece[]): Map<string, DayTotals & { clientId: string, date: string }> {
  const out = new Map<string, DayTotals & { clientId: string, date: string }>()
  const add = (p: CostPiece, sign: bigint) => {
    const k = `${p.clientId}|${p.date}`
    const t = out.get(k) ?? { clientId: p.clientId, date: p.date, hours: 0n, actual: 0n, baseline: 0n }
    t.hours += sign * p.hours; t.actual += sign * p.actual; t.baseline += sign * p.baseline
    out.set(k, t)
  }
  for (const p of before) add(p, -1n)
  for (const p of after) add(p, 1n)
  return out
}

/** Per (pool, hour bucket): instance-hours observed, Σ after − Σ before. */
export function poolHourDeltas(before: readonly CostPiece[], after: readonly CostPiece[]): Map<string, { poolId: string, bucket: number, hours: bigint }> {
  const out = new Map<string, { poolId: string, bucket: number, hours: bigint }>()
  const add = (p: CostPiece, sign: bigint) => {
    if (p.state.poolId === null) return
    for (const h of hourParts(p)) {
      const k = `${p.state.poolId}|${h.bucket}`
      const t = out.get(k) ?? { poolId: p.state.poolId, bucket: h.bucket, hours: 0n }
      t.hours += sign * h.hours
      out.set(k, t)
    }
  }
  for (const p of before) add(p, -1n)
  for (const p of after) add(p, 1n)
  return out
}

export const savingsOf = (p: DayTotals) => p.baseline - p.actual
export { MICRO }
