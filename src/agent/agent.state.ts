/**
 * The agent aggregate's state and evolve(): how each input fact and each
 * decision changes it. Pure and deterministic (no clock: times come from the
 * events), so the live run and a replay of the log fold to the same state.
 *
 * Inputs carry facts (a heartbeat's prices, a replica reported ready);
 * decisions carry what the rules concluded (replica requested in pool X,
 * failover executed). evolve() never decides: it trusts decide() to have
 * rejected what must not apply, and stays total for anything else.
 *
 * Kafka orders an agent's events within one topic only, so the instance
 * facts carry the occurredAt of the event that set them (`instanceAt`), the
 * price facts theirs (`priceAt`: a signal names the instance and pool but no
 * price, so it must not hide an older heartbeat's), and an older event never
 * overwrites either; and an instance
 * the agent has left (`formerInstances`) never becomes its instance again:
 * AWS never reuses an instance id, so a report naming it is older news.
 */
import { parsePoolId } from '../events/schemas.js'
import { type AgentEvent, type DecisionEvent, type DecisionOf, type InputOf, isDecision } from './agent.events.js'

export type ReplicaStatus = 'launching' | 'syncing' | 'ready' | 'promoted' | 'terminated' | 'failed'
export type ReplicaType = 'manual' | 'automatic-rebalance' | 'automatic-termination'
export type SyncStatus = 'initializing' | 'syncing' | 'synced' | 'out-of-sync'
export type SignalType = 'rebalance-recommendation' | 'termination-notice'

export interface ReplicaState {
  id: string
  replicaType: ReplicaType
  poolId: string
  instanceId: string | null
  status: ReplicaStatus
  syncStatus: SyncStatus
  syncLatencyMs: number | null
  stateTransferProgress: number
  hourlyCost: string | null
  createdBy: string
  parentInstanceId: string | null
  errorMessage: string | null
  terminationReason: string | null
  createdAt: string
  readyAt: string | null
  promotedAt: string | null
  terminatedAt: string | null
}

/** An interruption signal this agent recorded: its pool is avoided for a while, a duplicate notice is recognised. */
export interface RecentSignal {
  signalType: SignalType
  instanceId: string
  poolId: string
  at: string
  terminationTime: string | null
}

/** An input kept until the agent registers. */
export interface ParkedRef {
  eventId: string
  occurredAt: string
}

export interface AgentState {
  agentId: string
  clientId: string
  registered: boolean
  logicalAgentId: string | null
  hostname: string | null
  instanceId: string | null
  /** occurredAt of the event that set instanceId and the pool. */
  instanceAt: string | null
  /** occurredAt of the event that set mode and prices. */
  priceAt: string | null
  /** Instances the agent has left, newest last, at most FORMER_INSTANCES_KEPT. */
  formerInstances: readonly string[]
  instanceType: string | null
  region: string | null
  az: string | null
  poolId: string | null
  mode: 'spot' | 'on-demand'
  status: string
  lastHeartbeatAt: string | null
  spotPrice: string | null
  onDemandPrice: string | null
  autoSwitchEnabled: boolean
  manualReplicaEnabled: boolean
  autoTerminateEnabled: boolean
  terminateWaitMinutes: number
  /** Off: the service takes no automatic action for the agent (termination notices are still answered). */
  enabled: boolean
  /** Manual mode wanted a replica and no pool was known: it is launched at the agent's next report once one is. */
  manualReplicaPending: boolean
  /** The live replica (launching, syncing or ready), or null. */
  currentReplicaId: string | null
  /** Replicas known to this state, by id: the live one and those the events referenced. */
  replicas: Readonly<Record<string, ReplicaState>>
  lastInterruptionSignal: string | null
  lastFailoverAt: string | null
  interruptionHandledCount: number
  /** Ordered by `at` (ties in arrival order), the newest RECENT_SIGNALS_KEPT. */
  recentSignals: readonly RecentSignal[]
  /** Inputs waiting for agent.registered (only while `registered` is false). */
  parked: readonly ParkedRef[]
}

/** Bounded by count, not time, so evolve needs no clock; the shell loads the same number. */
export const RECENT_SIGNALS_KEPT = 20
export const FORMER_INSTANCES_KEPT = 20

export const LIVE_STATUSES: readonly ReplicaStatus[] = ['launching', 'syncing', 'ready']
export const isLive = (r: ReplicaState | undefined): boolean => r !== undefined && LIVE_STATUSES.includes(r.status)

/** An agent nothing is known of yet: its inputs are parked until agent.registered binds it to a client. */
export function initialAgentState(agentId: string, clientId: string): AgentState {
  return {
    agentId, clientId, registered: false, logicalAgentId: null, hostname: null,
    instanceId: null, instanceAt: null, priceAt: null, formerInstances: [], instanceType: null, region: null, az: null, poolId: null, mode: 'spot',
    status: 'offline', lastHeartbeatAt: null, spotPrice: null, onDemandPrice: null,
    autoSwitchEnabled: true, manualReplicaEnabled: false, autoTerminateEnabled: true, terminateWaitMinutes: 0,
    enabled: true, manualReplicaPending: false, currentReplicaId: null, replicas: {}, lastInterruptionSignal: null, lastFailoverAt: null,
    interruptionHandledCount: 0, recentSignals: [], parked: [],
  }
}

export function currentReplica(s: AgentState): ReplicaState | null {
  const r = s.currentReplicaId === null ? undefined : s.replicas[s.currentReplicaId]
  return r && isLive(r) ? r : null
}

/** Canonical ISO text, so times from events and from DATETIME columns compare equal (and in order, as text). */
export const iso = (t: string | Date): string => new Date(t).toISOString()
const later = (a: string | null, b: string): string => (a !== null && a > b ? a : b)

/**
 * Where an instance named by an event at `at` stands: the agent's current
 * one; a newer one (the agent moved there, its report of the move may come
 * later on another topic); or one it has left (named before, or by an event
 * older than the current facts, which say it runs something else since).
 */
export type InstancePlace = 'current' | 'newer' | 'former'
export function placeOf(s: AgentState, instanceId: string, at: string): InstancePlace {
  if (instanceId === s.instanceId) return 'current'
  if (s.formerInstances.includes(instanceId)) return 'former'
  return s.instanceAt === null || iso(at) >= s.instanceAt ? 'newer' : 'former'
}

type InstanceFacts = Pick<AgentState, 'poolId' | 'instanceType' | 'az' | 'region'>
type PriceFacts = Pick<AgentState, 'spotPrice' | 'onDemandPrice'> & Partial<Pick<AgentState, 'mode'>>

/** Price facts at `t`, where they are newer than the ones held. */
function priced(s: AgentState, t: string, prices: PriceFacts | undefined): AgentState {
  return prices === undefined || (s.priceAt !== null && t < s.priceAt) ? s : { ...s, ...prices, priceAt: t }
}

/** The facts an event at `at` reports about `instanceId`, each kind applied only where it is the newest. */
function observe(s: AgentState, instanceId: string, at: string, facts: InstanceFacts, prices?: PriceFacts): AgentState {
  const t = iso(at)
  const place = placeOf(s, instanceId, t)
  switch (place) {
    case 'current': return priced(s.instanceAt !== null && t < s.instanceAt ? s : { ...s, ...facts, instanceAt: t }, t, prices)
    case 'newer': return leave(priced({ ...s, ...facts, instanceId, instanceAt: t }, t, prices), s.instanceId)
    case 'former': return leave(s, instanceId)
    default: return assertNever(place)
  }
}

/** Remembers that the agent left `id` (never its current instance). */
function leave(s: AgentState, id: string | null): AgentState {
  if (id === null || id === s.instanceId || s.formerInstances.includes(id)) return s
  return { ...s, formerInstances: [...s.formerInstances, id].slice(-FORMER_INSTANCES_KEPT) }
}

export function evolve(s: AgentState, e: AgentEvent): AgentState {
  switch (e.type) {
    case 'agent.registered': return registered(s, e)
    case 'agent.heartbeat': return heartbeat(s, e)
    case 'agent.instance_switched': return leave(observe(s, e.data.newInstanceId, e.occurredAt, onPool(e.data.newPoolId), {
      spotPrice: e.data.newSpotPrice, onDemandPrice: e.data.onDemandPrice,
    }), e.data.oldInstanceId)
    case 'spot.rebalance_recommendation':
    case 'spot.termination_notice': return signal(s, e)
    case 'replica.launched': return launched(s, e)
    case 'replica.sync_progress': return updateReplica(s, e.data.replicaId, (r) => isLive(r) ? {
      ...r, status: r.status === 'ready' ? 'ready' : 'syncing', syncStatus: e.data.syncStatus,
      syncLatencyMs: e.data.syncLatencyMs, stateTransferProgress: e.data.stateTransferProgress,
    } : r)
    case 'replica.ready': return updateReplica(s, e.data.replicaId, (r) => isLive(r)
      ? { ...r, status: 'ready', syncStatus: 'synced', stateTransferProgress: 100, readyAt: iso(e.occurredAt) } : r)
    case 'replica.promoted': return promotedReported(s, e)
    case 'replica.terminated': return endReplica(s, e.data.replicaId, (r) => ({
      ...r, status: 'terminated', terminationReason: e.data.reason, terminatedAt: iso(e.occurredAt),
    }))
    case 'replica.failed': return endReplica(s, e.data.replicaId, (r) => ({
      ...r, status: 'failed', errorMessage: e.data.error, terminatedAt: iso(e.occurredAt),
    }))
    // Decisions logged before 016 carry no `enabled`: it stays as it was.
    case 'decision.config_applied': return {
      ...s, ...e.data, enabled: e.data.enabled ?? s.enabled, manualReplicaPending: s.manualReplicaPending && e.data.manualReplicaEnabled,
    }
    case 'decision.replica_unavailable': return e.data.replicaType === 'manual' ? { ...s, manualReplicaPending: true } : s
    case 'decision.signal_recorded': return remember(s, e)
    case 'decision.input_parked': return { ...s, parked: [...s.parked, { eventId: e.causeEventId, occurredAt: iso(e.data.inputOccurredAt) }] }
    case 'decision.parked_released': return { ...s, parked: s.parked.filter((p) => !e.data.eventIds.includes(p.eventId)) }
    case 'decision.replica_requested': return replicaRequested(s, e)
    case 'decision.replica_termination_requested': return endReplica(s, e.data.replicaId, (r) => ({
      ...r, status: 'terminated', terminationReason: e.data.reason, terminatedAt: iso(e.occurredAt),
    }))
    case 'decision.replica_promoted': return promote(s, e)
    // Silence, not news: the next heartbeat (newer than lastHeartbeatAt) sets the status again.
    case 'decision.agent_offline': return { ...s, status: 'offline' }
    case 'decision.failover_executed': return {
      ...promote(s, e), lastFailoverAt: iso(e.occurredAt), interruptionHandledCount: s.interruptionHandledCount + 1,
    }
    // Recorded elsewhere (outbox, spot_interruption_events) or nothing to change.
    case 'agent.config_changed':
    case 'user.replica_create_requested':
    case 'user.replica_promote_requested':
    case 'user.replica_delete_requested':
    case 'user.switch_requested':
    case 'decision.switch_requested':
    case 'decision.emergency_snapshot_requested':
    case 'decision.rejected':
      return s
    default: return assertNever(e)
  }
}

export function assertNever(x: never): never {
  throw new Error(`unhandled event type ${(x as { type?: unknown }).type}`)
}

/** The pool and the instance type, AZ and region it names. */
function onPool(poolId: string): Pick<AgentState, 'poolId' | 'instanceType' | 'az' | 'region'> {
  const p = parsePoolId(poolId)
  return { poolId, instanceType: p?.instanceType ?? null, az: p?.az ?? null, region: p?.region ?? null }
}

/** Status and liveness: the newest heartbeat's. */
function alive(s: AgentState, at: string, status: string): AgentState {
  const t = iso(at)
  return s.lastHeartbeatAt !== null && t < s.lastHeartbeatAt ? s : { ...s, status, lastHeartbeatAt: t }
}

/** Binds the agent to the registering client; the instance facts follow the time rule like any report. */
function registered(s: AgentState, e: InputOf<'agent.registered'>): AgentState {
  const d = e.data
  const bound = { ...s, clientId: e.clientId, registered: true, logicalAgentId: d.logicalAgentId, hostname: d.hostname }
  return observe(alive(bound, e.occurredAt, 'online'), d.instanceId, e.occurredAt, {
    instanceType: d.instanceType, region: d.region, az: d.az, poolId: `${d.instanceType}.${d.az}`,
  }, { mode: d.mode, spotPrice: d.spotPrice, onDemandPrice: d.onDemandPrice })
}

function heartbeat(s: AgentState, e: InputOf<'agent.heartbeat'>): AgentState {
  const d = e.data
  return observe(alive(s, e.occurredAt, d.status), d.instanceId, e.occurredAt, onPool(d.poolId), {
    mode: d.mode, spotPrice: d.spotPrice, onDemandPrice: d.onDemandPrice,
  })
}

/** A signal names the instance and pool the agent ran at its time: a fact like a heartbeat's. */
function signal(s: AgentState, e: InputOf<'spot.rebalance_recommendation' | 'spot.termination_notice'>): AgentState {
  const at = iso(e.occurredAt)
  return observe({ ...s, lastInterruptionSignal: later(s.lastInterruptionSignal, at) }, e.data.instanceId, at, onPool(e.data.poolId))
}

/** A recorded signal joins recentSignals in time order (ties keep arrival order, as row ids do); the newest are kept. */
function remember(s: AgentState, e: DecisionOf<'decision.signal_recorded'>): AgentState {
  const d = e.data
  const x: RecentSignal = {
    signalType: d.signalType, instanceId: d.instanceId, poolId: d.poolId, at: iso(d.detectedAt),
    terminationTime: d.terminationTime === null ? null : iso(d.terminationTime),
  }
  const i = s.recentSignals.findIndex((r) => r.at > x.at)
  const list = i < 0 ? [...s.recentSignals, x] : [...s.recentSignals.slice(0, i), x, ...s.recentSignals.slice(i)]
  return { ...s, recentSignals: list.slice(-RECENT_SIGNALS_KEPT) }
}

function updateReplica(s: AgentState, id: string, f: (r: ReplicaState) => ReplicaState): AgentState {
  const r = s.replicas[id]
  return r ? { ...s, replicas: { ...s.replicas, [id]: f(r) } } : s
}

/** Ends a live replica and clears the pointer to it; an ended one stays as it is. */
function endReplica(s: AgentState, id: string, f: (r: ReplicaState) => ReplicaState): AgentState {
  const r = s.replicas[id]
  if (!r || !isLive(r)) return s
  return { ...s, replicas: { ...s.replicas, [id]: f(r) }, currentReplicaId: s.currentReplicaId === id ? null : s.currentReplicaId }
}

function newReplica(id: string, fields: Pick<ReplicaState, 'replicaType' | 'poolId' | 'createdBy' | 'parentInstanceId' | 'createdAt'>): ReplicaState {
  return {
    id, ...fields, instanceId: null, status: 'launching', syncStatus: 'initializing', syncLatencyMs: null,
    stateTransferProgress: 0, hourlyCost: null, errorMessage: null, terminationReason: null,
    readyAt: null, promotedAt: null, terminatedAt: null,
  }
}

function replicaRequested(s: AgentState, e: DecisionOf<'decision.replica_requested'>): AgentState {
  const d = e.data
  const r = newReplica(d.replicaId, {
    replicaType: d.replicaType, poolId: d.poolId, createdBy: d.createdBy, parentInstanceId: d.parentInstanceId, createdAt: iso(e.occurredAt),
  })
  return { ...s, replicas: { ...s.replicas, [r.id]: r }, currentReplicaId: r.id, manualReplicaPending: s.manualReplicaPending && d.replicaType !== 'manual' }
}

/** A launch report: completes a requested replica, or adopts one the agent started on its own. */
function launched(s: AgentState, e: InputOf<'replica.launched'>): AgentState {
  const d = e.data
  const known = s.replicas[d.replicaId]
  if (known && !isLive(known)) return s
  const base = known ?? newReplica(d.replicaId, {
    replicaType: d.replicaType, poolId: d.poolId, createdBy: 'agent', parentInstanceId: s.instanceId, createdAt: iso(e.occurredAt),
  })
  const r: ReplicaState = { ...base, instanceId: d.instanceId, poolId: d.poolId, hourlyCost: d.hourlyCost }
  return { ...s, replicas: { ...s.replicas, [r.id]: r }, currentReplicaId: r.id, manualReplicaPending: s.manualReplicaPending && d.replicaType !== 'manual' }
}

/** The replica becomes the agent's instance (manual promotion or failover); the instance it replaces is left for good. */
function promote(s: AgentState, e: DecisionOf<'decision.replica_promoted' | 'decision.failover_executed'>): AgentState {
  const d = e.data
  const r = s.replicas[d.replicaId]
  const replicas = r ? { ...s.replicas, [r.id]: { ...r, status: 'promoted' as const, promotedAt: iso(e.occurredAt) } } : s.replicas
  const moved = { ...s, instanceId: d.newInstanceId }
  const left = leave(leave(moved, s.instanceId), d.oldInstanceId)
  return {
    ...left, ...onPool(d.newPoolId), instanceAt: later(s.instanceAt, iso(d.effectiveAt)), replicas,
    spotPrice: d.newSpotPrice ?? s.spotPrice, onDemandPrice: d.onDemandPrice ?? s.onDemandPrice,
    priceAt: d.newSpotPrice === null && d.onDemandPrice === null ? s.priceAt : later(s.priceAt, iso(d.effectiveAt)),
    currentReplicaId: s.currentReplicaId === d.replicaId ? null : s.currentReplicaId,
  }
}

/** The agent confirms a promotion and names the instance now serving (usually the replica's own). */
function promotedReported(s: AgentState, e: InputOf<'replica.promoted'>): AgentState {
  const r = s.replicas[e.data.replicaId]
  if (!r || r.status !== 'promoted') return s
  const newId = e.data.newInstanceId
  const serving = s.instanceId === r.instanceId && newId !== r.instanceId
  const next = { ...s, replicas: { ...s.replicas, [r.id]: { ...r, instanceId: newId } } }
  return serving ? leave({ ...next, instanceId: newId }, r.instanceId) : next
}

/** Whether the input itself is folded: not when it was rejected or parked. */
export function inputApplies(decisions: readonly DecisionEvent[]): boolean {
  return !decisions.some((d) => d.type === 'decision.rejected' || d.type === 'decision.input_parked')
}

/**
 * The replay rule. event_log holds a batch's inputs before the decisions
 * taken on them, so a replay cannot fold it in plain log order. Instead: walk
 * the log; apply each input unless a `decision.rejected` names it as cause,
 * and right after it the decisions it caused, in log order. A decision whose
 * cause is not in the log is applied where it stands. Nothing is decided
 * again.
 */
export function replay(initial: AgentState, log: readonly AgentEvent[]): AgentState {
  const inputs = new Map(log.filter((e) => !isDecision(e)).map((e) => [e.eventId, e]))
  const caused = new Map<string, DecisionEvent[]>()
  for (const e of log) {
    if (isDecision(e) && inputs.has(e.causeEventId)) caused.set(e.causeEventId, [...caused.get(e.causeEventId) ?? [], e])
  }
  let s = initial
  const apply = (e: AgentEvent, decisions: readonly DecisionEvent[]) => {
    if (inputApplies(decisions)) s = evolve(s, e)
    for (const d of decisions) {
      s = evolve(s, d)
      // Parked inputs are applied right after the registration that releases them, with their own later decisions.
      if (d.type !== 'decision.parked_released') continue
      for (const id of d.data.eventIds) {
        const p = inputs.get(id)
        if (p) apply(p, (caused.get(id) ?? []).filter((x) => x.type !== 'decision.input_parked'))
      }
    }
  }
  for (const e of log) {
    if (isDecision(e)) {
      if (!inputs.has(e.causeEventId)) s = evolve(s, e)
      continue
    }
    const decisions = caused.get(e.eventId) ?? []
    const parked = decisions.find((d) => d.type === 'decision.input_parked')
    if (parked) s = evolve(s, parked)
    else apply(e, decisions)
  }
  return s
}
