/**
 * The realistic stream of bench/ingest.ts: AGENTS agents of one client in a
 * dozen pools (3 instance types x 4 AZs), each registered first, then a mix
 * of heartbeats with prices, pricing snapshots (keyed by pool), rebalance
 * recommendations and termination notices (by default 55/38/5/2 %). Each
 * agent heartbeats about every 10 s of event time, so 100k events from 1,000
 * agents span about 9 minutes. A small PRNG with a fixed seed makes two runs
 * the same stream (but new event ids).
 *
 * `answer` plays the agents' side of replica-commands (launch -> launched and
 * ready at once; promote -> promoted, the agent now runs on the replica), so
 * a live stream's termination notices find ready replicas and are answered by
 * `command.promote_replica`.
 */
import { randomUUID } from 'node:crypto'
import type { EventOf, SpotEvent } from '../src/events/schemas.js'

export interface Mix { heartbeat: number, pricing: number, rebalance: number, termination: number }
export const DEFAULT_MIX: Mix = { heartbeat: 0.55, pricing: 0.38, rebalance: 0.05, termination: 0.02 }

/** "heartbeat=0.6,pricing=0.4" -> a mix (missing kinds 0), normalised to sum 1. */
export function parseMix(text: string): Mix {
  const m: Mix = { heartbeat: 0, pricing: 0, rebalance: 0, termination: 0 }
  for (const part of text.split(',').filter(Boolean)) {
    const [k, v] = part.split('=')
    if (!k || !(k in m) || !Number.isFinite(Number(v))) throw new Error(`--mix: bad part "${part}" (kinds: ${Object.keys(m).join(', ')})`)
    m[k as keyof Mix] = Number(v)
  }
  const sum = m.heartbeat + m.pricing + m.rebalance + m.termination
  if (!(sum > 0)) throw new Error('--mix: the fractions sum to 0')
  return { heartbeat: m.heartbeat / sum, pricing: m.pricing / sum, rebalance: m.rebalance / sum, termination: m.termination / sum }
}

const REGION = 'us-east-1'
const ON_DEMAND: Record<string, number> = { 'm5.large': 0.096, 'c5.large': 0.085, 'r5.large': 0.126 }
const TYPES = Object.keys(ON_DEMAND)
const AZS = ['a', 'b', 'c', 'd'].map((l) => `${REGION}${l}`)
export const POOLS = TYPES.flatMap((type) => AZS.map((az) => ({ id: `${type}.${az}`, type, az })))

/** Canonical money text (what the wire schema makes of it): 4 places, no trailing zeros. */
const money = (n: number) => n.toFixed(4).replace(/0+$/, '').replace(/\.$/, '')

interface Agent { id: string, instanceId: string, pool: typeof POOLS[number], noticeAt: number | null, replicas: Map<string, { instanceId: string, pool: typeof POOLS[number] }> }

export interface StreamOptions { agents: number, mix?: Mix, seed?: number, clientId?: string }

export class FleetStream {
  readonly clientId: string
  readonly agents: Agent[]
  private readonly mix: Mix
  private rnd: () => number
  private readonly prices: number[]
  private pricingAt = 0
  private heartbeatAt = 0
  /** Agents whose termination notice is waiting for its command (at most one each). */
  readonly noticed = new Map<string, number>()

  constructor(o: StreamOptions) {
    this.clientId = o.clientId ?? randomUUID()
    this.mix = o.mix ?? DEFAULT_MIX
    let s = (o.seed ?? 1) >>> 0
    // mulberry32
    this.rnd = () => { s = (s + 0x6D2B79F5) >>> 0; let t = s; t = Math.imul(t ^ (t >>> 15), t | 1); t ^= t + Math.imul(t ^ (t >>> 7), t | 61); return ((t ^ (t >>> 14)) >>> 0) / 4294967296 }
    this.prices = POOLS.map((p, i) => ON_DEMAND[p.type]! * (0.25 + (i % 5) * 0.05))
    this.agents = Array.from({ length: o.agents }, (_, i) => ({ id: randomUUID(), instanceId: this.instance(), pool: POOLS[i % POOLS.length]!, noticeAt: null, replicas: new Map() }))
  }

  private instance(): string { return `i-${Math.floor(this.rnd() * 2 ** 52).toString(16).padStart(17, '0').slice(0, 17)}` }
  private env(a: Agent, at: number) { return { eventId: randomUUID(), version: 1 as const, occurredAt: new Date(at).toISOString(), clientId: this.clientId, agentId: a.id } }
  private pick(): Agent { return this.agents[Math.floor(this.rnd() * this.agents.length)]! }

  /** Event time per event at this mix, so each agent heartbeats about every 10 s. */
  msPerEvent(): number { return 10_000 * this.mix.heartbeat / this.agents.length || 1 }

  registrations(at: number): EventOf<'agent.registered'>[] {
    return this.agents.map((a, i) => ({
      ...this.env(a, at), type: 'agent.registered', data: {
        logicalAgentId: `bench-${i}`, instanceId: a.instanceId, instanceType: a.pool.type, region: REGION, az: a.pool.az,
        mode: 'spot', hostname: `bench-${i}.local`, spotPrice: money(this.prices[POOLS.indexOf(a.pool)]!), onDemandPrice: money(ON_DEMAND[a.pool.type]!),
      },
    }))
  }

  /** One pricing snapshot per pool: replicas are placed only in pools the service has seen prices for. */
  pricingRound(at: number): EventOf<'pricing.snapshot'>[] {
    return POOLS.map((p, i) => ({ ...this.env(this.agents[i % this.agents.length]!, at), type: 'pricing.snapshot', data: {
      poolId: p.id, instanceType: p.type, region: REGION, az: p.az, spotPrice: money(this.prices[i]!), onDemandPrice: money(ON_DEMAND[p.type]!), observedAt: new Date(at).toISOString(), sourceType: 'bench',
    } }))
  }

  /** The next event of the mix at time `at` (epoch ms). */
  next(at: number): SpotEvent {
    const r = this.rnd()
    const m = this.mix
    if (r < m.heartbeat) {
      const a = this.agents[this.heartbeatAt++ % this.agents.length]!
      const pi = POOLS.indexOf(a.pool)
      return { ...this.env(a, at), type: 'agent.heartbeat', data: { status: 'online', instanceId: a.instanceId, mode: 'spot', poolId: a.pool.id, spotPrice: money(this.prices[pi]!), onDemandPrice: money(ON_DEMAND[a.pool.type]!) } }
    }
    if (r < m.heartbeat + m.pricing) {
      const pi = this.pricingAt++ % POOLS.length
      const p = POOLS[pi]!
      const od = ON_DEMAND[p.type]!
      this.prices[pi] = Math.min(od * 0.9, Math.max(od * 0.15, this.prices[pi]! * (0.97 + this.rnd() * 0.06)))
      return { ...this.env(this.pick(), at), type: 'pricing.snapshot', data: { poolId: p.id, instanceType: p.type, region: REGION, az: p.az, spotPrice: money(this.prices[pi]!), onDemandPrice: money(od), observedAt: new Date(at).toISOString(), sourceType: 'bench' } }
    }
    if (r < m.heartbeat + m.pricing + m.rebalance) {
      const a = this.pick()
      return { ...this.env(a, at), type: 'spot.rebalance_recommendation', data: { instanceId: a.instanceId, poolId: a.pool.id } }
    }
    // A notice for an agent with none pending, so each command answers one notice.
    let a = this.pick()
    for (let i = 0; i < 8 && this.noticed.has(a.id); i++) a = this.pick()
    this.noticed.set(a.id, at)
    return { ...this.env(a, at), type: 'spot.termination_notice', data: { instanceId: a.instanceId, poolId: a.pool.id, terminationTime: new Date(at + 120_000).toISOString() } }
  }

  /** What the agent answers to a command (none for a command of another client or agent). */
  answer(c: SpotEvent, at: number): SpotEvent[] {
    const a = c.clientId === this.clientId ? this.agents.find((x) => x.id === c.agentId) : undefined
    if (!a) return []
    const env = () => this.env(a, at)
    if (c.type === 'command.launch_replica') {
      const pool = POOLS.find((p) => p.id === c.data.poolId) ?? a.pool
      const r = { instanceId: this.instance(), pool }
      a.replicas.set(c.data.replicaId, r)
      return [
        { ...env(), type: 'replica.launched', data: { replicaId: c.data.replicaId, instanceId: r.instanceId, poolId: pool.id, replicaType: 'automatic-rebalance', hourlyCost: money(this.prices[POOLS.indexOf(pool)]!) } },
        { ...env(), type: 'replica.ready', data: { replicaId: c.data.replicaId } },
      ]
    }
    if (c.type === 'command.promote_replica') {
      const r = a.replicas.get(c.data.replicaId)
      a.replicas.delete(c.data.replicaId)
      if (r) { a.instanceId = r.instanceId; a.pool = r.pool } else a.instanceId = this.instance()
      return [{ ...env(), type: 'replica.promoted', data: { replicaId: c.data.replicaId, newInstanceId: a.instanceId } }]
    }
    return []
  }
}
