/**
 * The pure cost accrual: fixed-point rounding, midnight and hour cuts,
 * inheritance, and the property that folding points in any batches and any
 * order gives the pieces of the whole history computed at once.
 */
import fc from 'fast-check'
import t from 'tap'
import {
  type CostPiece, type PricePoint, type StoredPoint, comparePoints, costPieces, dayDeltas, diffPieces, hourParts, isFull,
  mergePoints, poolHourDeltas, resolve,
} from '../../src/projections/cost-intervals.js'
import { divRound, fromMicro, fromPico, hoursMicroOfMs, mulMicro, toMicro } from '../../src/projections/fixed-point.js'

const T0 = Date.parse('2026-11-20T22:00:00Z')
const H = 3_600_000

t.test('fixed point', async (t) => {
  t.equal(toMicro('0.0345'), 34500n)
  t.equal(toMicro('0.034500'), 34500n)
  t.equal(toMicro('12'), 12_000_000n)
  t.equal(toMicro('-0.5'), -500_000n)
  t.throws(() => toMicro('0.0000001'))
  t.equal(fromMicro(34500n), '0.0345')
  t.equal(fromMicro(-1n), '-0.000001')
  t.equal(fromMicro(0n), '0')
  t.equal(fromPico(1_190_250_000n), '0.00119025')
  t.equal(divRound(5n, 2n), 3n, 'half away from zero')
  t.equal(divRound(-5n, 2n), -3n)
  t.equal(hoursMicroOfMs(9), 3n, '9 ms = 2.5 micro-hours, rounded up')
  t.equal(hoursMicroOfMs(20 * 60_000), 333_333n)
  t.equal(mulMicro(333_333n, 73_100n), 24_367n, '0.333333 × 0.0731 = 0.0243666… -> 0.024367')
})

const point = (at: number, eventId: string, c: Partial<PricePoint['carried']>, kind: PricePoint['kind'] = 'heartbeat'): PricePoint => ({
  agentId: 'a', clientId: 'c', at, eventId, kind,
  carried: { instanceId: 'i-1', poolId: null, mode: null, spotPrice: null, onDemandPrice: null, ...c },
})
const full = (at: number, id: string, spot: string, pool = 'm5.large.us-east-1a') =>
  point(at, id, { poolId: pool, mode: 'spot', spotPrice: spot, onDemandPrice: '0.096' })

t.test('an interval is cut at midnight and costs the price in effect at its start', async (t) => {
  const { after } = mergePoints([], [full(T0, 'e1', '0.0345'), full(T0 + 3 * H, 'e2', '0.05')])
  t.same(after.map((p) => [p.date, p.hours, p.actual, p.baseline, p.closedBy]), [
    ['2026-11-20', 2_000_000n, 69_000n, 192_000n, 'e2'],
    ['2026-11-21', 1_000_000n, 34_500n, 96_000n, 'e2'],
  ])
})

t.test('on-demand mode costs the on-demand price; a switch inherits the mode', async (t) => {
  const od = point(T0, 'e1', { poolId: 'p.a', mode: 'on-demand', spotPrice: '0.03', onDemandPrice: '0.096' })
  const sw = point(T0 + H, 'e2', { poolId: 'p.b', spotPrice: '0.02', onDemandPrice: '0.096' }, 'switch')
  const { after } = mergePoints([], [od, sw, full(T0 + 2 * H, 'e3', '0.04')])
  t.same(after.map((p) => [p.state.mode, p.state.poolId, p.actual]), [['on-demand', 'p.a', 96_000n], ['on-demand', 'p.b', 96_000n]])
})

t.test('a late point splits the interval it falls in; the successors it feeds are re-resolved', async (t) => {
  const first = mergePoints([], [full(T0, 'e1', '0.03'), point(T0 + 2 * H, 'e3', { poolId: 'p.b' }, 'switch'), full(T0 + 3 * H, 'e4', '0.05')])
  const stored = first.points
  const late = point(T0 + H, 'e2', { mode: 'on-demand', poolId: 'p.a', spotPrice: '0.03', onDemandPrice: '0.1' })
  const r = mergePoints(stored, [late])
  t.same(r.points.map((p) => [p.eventId, p.state.mode]), [['e2', 'on-demand'], ['e3', 'on-demand']], 'e3 inherits the late mode')
  const diff = diffPieces(r.before, r.after)
  t.same(diff.deletes, [])
  t.same(diff.upserts.map((p) => [p.openedBy, new Date(p.start).toISOString(), p.actual]), [
    ['e1', '2026-11-20T22:00:00.000Z', 30_000n],
    ['e2', '2026-11-20T23:00:00.000Z', 100_000n],
    ['e3', '2026-11-21T00:00:00.000Z', 100_000n],
  ])
})

t.test('hour parts are rounded each on its own', async (t) => {
  t.same(hourParts({ start: T0 + 30 * 60_000, end: T0 + 2 * H + 20 * 60_000 }).map((p) => p.hours), [500_000n, 1_000_000n, 333_333n])
})

// ---- the order-independence property ----

/** What the projection's one read returns: the point before the earliest fresh one, then all up to the first full point strictly after the latest. */
function windowOf(store: readonly StoredPoint[], fresh: readonly PricePoint[]): StoredPoint[] {
  const sorted = [...fresh].sort(comparePoints)
  const min = sorted[0]!
  const max = sorted.at(-1)!
  const before = store.filter((p) => comparePoints(p, min) < 0).at(-1)
  const stop = store.find((p) => p.at > max.at && isFull(p.carried))
  const rest = store.filter((p) => comparePoints(p, min) >= 0 && (stop === undefined || p.at <= stop.at))
  return before ? [before, ...rest] : rest
}

const pointArb = fc.record({
  minute: fc.integer({ min: 0, max: 3 * 24 * 60 }),
  id: fc.integer({ min: 0, max: 99 }),
  kind: fc.constantFrom('heartbeat', 'switch', 'failover'),
  price: fc.integer({ min: 1, max: 99_999 }),
  pool: fc.constantFrom('p.a', 'p.b', 'p.c'),
  mode: fc.constantFrom('spot', 'on-demand', null),
  hasPrice: fc.boolean(),
}).map((x): PricePoint => point(T0 + x.minute * 60_000 + (x.id % 7), `e${String(x.id).padStart(3, '0')}`, {
  poolId: x.pool, mode: x.kind === 'heartbeat' ? x.mode ?? 'spot' : null,
  spotPrice: x.kind === 'heartbeat' || x.hasPrice ? fromMicro(BigInt(x.price)) : null,
  onDemandPrice: x.kind === 'heartbeat' || x.hasPrice ? '0.096' : null,
}, x.kind === 'heartbeat' ? 'heartbeat' : x.kind === 'switch' ? 'switch' : 'failover'))

const keyOf = (p: CostPiece) => `${p.start}`
const seed = Number(process.env.FC_SEED ?? Date.now() % 2 ** 31)

t.test('any batching and order of the same points gives the pieces of the whole history', async (t) => {
  t.comment(`fast-check seed ${seed}`)
  fc.assert(fc.property(
    fc.uniqueArray(pointArb, { minLength: 1, maxLength: 30, selector: (p) => p.eventId }),
    fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 30, maxLength: 30 }),
    fc.infiniteStream(fc.double({ min: 0, max: 1, noNaN: true })),
    (points, sizes, random) => {
      const shuffled = points.map((p) => ({ p, k: random.next().value })).sort((a, b) => a.k - b.k).map((x) => x.p)
      let store: StoredPoint[] = []
      const pieces = new Map<string, CostPiece>()
      const days = new Map<string, bigint>()
      const pools = new Map<string, bigint>()
      for (let i = 0, b = 0; i < shuffled.length; i += sizes[b++]!) {
        const batch = shuffled.slice(i, i + sizes[b]!)
        const m = mergePoints(windowOf(store, batch), batch)
        const d = diffPieces(m.before, m.after)
        for (const k of d.deletes) pieces.delete(`${k.start}`)
        for (const p of d.upserts) pieces.set(keyOf(p), p)
        for (const [k, v] of dayDeltas(m.before, m.after)) days.set(k, (days.get(k) ?? 0n) + v.actual * 3n + v.baseline * 5n + v.hours)
        for (const [k, v] of poolHourDeltas(m.before, m.after)) pools.set(k, (pools.get(k) ?? 0n) + v.hours)
        const updated = new Map(m.points.map((p) => [p.eventId, p]))
        store = [...store.filter((p) => !updated.has(p.eventId)), ...m.points].sort(comparePoints)
      }
      const whole = mergePoints([], points)
      const expected = new Map(whole.after.map((p) => [keyOf(p), p]))
      if (JSON.stringify([...pieces].sort(), (_, v) => typeof v === 'bigint' ? String(v) : v)
        !== JSON.stringify([...expected].sort(), (_, v) => typeof v === 'bigint' ? String(v) : v)) return false
      const wantDays = dayDeltas([], whole.after)
      for (const [k, v] of wantDays) if ((days.get(k) ?? 0n) !== v.actual * 3n + v.baseline * 5n + v.hours) return false
      for (const [k, v] of poolHourDeltas([], whole.after)) if ((pools.get(k) ?? 0n) !== v.hours) return false
      // States stored equal a fresh resolution of the sorted history.
      let prev = null
      for (const p of [...points].sort(comparePoints)) {
        const s = resolve(prev, p.carried)
        if (JSON.stringify(store.find((x) => x.eventId === p.eventId)!.state) !== JSON.stringify(s)) return false
        prev = s
      }
      return true
    }), { seed, numRuns: 300 })
})

t.test('no price known: no piece', async (t) => {
  const p: StoredPoint = { ...point(T0, 'e1', {}), state: resolve(null, point(T0, 'e1', {}).carried) }
  t.same(costPieces(p, T0 + H, 'e2'), [])
})
