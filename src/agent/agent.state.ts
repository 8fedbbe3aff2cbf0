/**
 * The agent aggregate's state and evolve(): how each input fact and each
 * decision changes it. Pure and deterministic (no clock: times come from the
 * events), so the live run and a replay of the log fold to the same state.
 *
 * Inputs carry facts (a heartbeat's prices, a replica reported ready);
 * decisions carry what the rules concluded (replica requested in pool X,
 * failover executed). evolve() never decides: it trusts decide() to have
 * rejected what must not apply, and stays total for anything else.
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

/** An interruption signal this agent accepted: its pool is avoided for a while, its instance remembered. */
export interface RecentSignal {
  signalType: SignalType
  instanceId: string
  poolId: string
  at: string
}

export interface AgentState {
  agentId: string
  clientId: string
  registered: boolean
  logicalAgentId: string | null
  hostname: string | null
  instanceId: string | null
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
  /** The live replica (launching, syncing or ready), or null. */
  currentReplicaId: string | null
  /** Replicas known to this state, by id: the live one and those the events referenced. */
  replicas: Readonly<Record<string, ReplicaState>>
  lastInterruptionSignal: string | null
  lastFailoverAt: string | null
  interruptionHandledCount: number
  /** Newest last, at most RECENT_SIGNALS_KEPT. */
  recentSignals: readonly RecentSignal[]
}

/** Bounded by count, not time, so evolve needs no clock; the shell loads the same number. */
export const RECENT_SIGNALS_KEPT = 20

export const LIVE_STATUSES: readonly ReplicaStatus[] = ['launching', 'syncing', 'ready']
export const isLive = (r: ReplicaState | undefined): boolean => r !== undefined && LIVE_STATUSES.includes(r.status)

/** Defaults of a fresh agents row (events may arrive before agent.registered). */
export function initialAgentState(agentId: string, clientId: string): AgentState {
  return {
    agentId, clientId, registered: false, logicalAgentId: null, hostname: null,
    instanceId: null, instanceType: null, region: null, az: null, poolId: null, mode: 'spot',
    status: 'offline', lastHeartbeatAt: null, spotPrice: null, onDemandPrice: null,
    autoSwitchEnabled: true, manualReplicaEnabled: false, autoTerminateEnabled: true, terminateWaitMinutes: 0,
    currentReplicaId: null, replicas: {}, lastInterruptionSignal: null, lastFailoverAt: null,
    interruptionHandledCount: 0, recentSignals: [],
  }
}

export function currentReplica(s: AgentState): ReplicaState | null {
  const r = s.currentReplicaId === null ? undefined : s.replicas[s.currentReplicaId]
  return r && isLive(r) ? r : null
}

/** Canonical ISO text, so times from events and from DATETIME columns compare equal. */
export const iso = (t: string | Date): string => new Date(t).toISOString()

export function evolve(s: AgentState, e: AgentEvent): AgentState {
  switch (e.type) {
    case 'agent.registered': return registered(s, e)
    case 'agent.heartbeat': return heartbeat(s, e)
    case 'agent.instance_switched': return {
      ...s, ...onPool(e.data.newPoolId), instanceId: e.data.newInstanceId,
      spotPrice: e.data.newSpotPrice, onDemandPrice: e.data.onDemandPrice,
    }
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
    case 'decision.config_applied': return { ...s, ...e.data }
    case 'decision.replica_requested': return replicaRequested(s, e)
    case 'decision.replica_termination_requested': return endReplica(s, e.data.replicaId, (r) => ({
      ...r, status: 'terminated', terminationReason: e.data.reason, terminatedAt: iso(e.occurredAt),
    }))
    case 'decision.replica_promoted': return promote(s, e)
    case 'decision.failover_executed': return {
      ...promote(s, e), lastFailoverAt: iso(e.occurredAt), interruptionHandledCount: s.interruptionHandledCount + 1,
    }
    // Recorded elsewhere (outbox, spot_interruption_events) or nothing to change.
    case 'agent.config_changed':
    case 'user.replica_create_requested':
    case 'user.replica_promote_requested':
    case 'user.replica_delete_requested':
    case 'decision.replica_unavailable':
    case 'decision.emergency_snapshot_requested':
    case 'decision.signal_recorded':
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

function registered(s: AgentState, e: InputOf<'agent.registered'>): AgentState {
  const d = e.data
  return {
    ...s, registered: true, logicalAgentId: d.logicalAgentId, hostname: d.hostname, instanceId: d.instanceId,
    instanceType: d.instanceType, region: d.region, az: d.az, poolId: `${d.instanceType}.${d.az}`,
    mode: d.mode, status: 'online', lastHeartbeatAt: iso(e.occurredAt), spotPrice: d.spotPrice, onDemandPrice: d.onDemandPrice,
  }
}

function heartbeat(s: AgentState, e: InputOf<'agent.heartbeat'>): AgentState {
  const d = e.data
  return {
    ...s, ...onPool(d.poolId), status: d.status, instanceId: d.instanceId, mode: d.mode,
    spotPrice: d.spotPrice, onDemandPrice: d.onDemandPrice, lastHeartbeatAt: iso(e.occurredAt),
  }
}

function signal(s: AgentState, e: InputOf<'spot.rebalance_recommendation' | 'spot.termination_notice'>): AgentState {
  const at = iso(e.occurredAt)
  const signalType: SignalType = e.type === 'spot.termination_notice' ? 'termination-notice' : 'rebalance-recommendation'
  const recent = [...s.recentSignals, { signalType, instanceId: e.data.instanceId, poolId: e.data.poolId, at }]
  return { ...s, lastInterruptionSignal: at, recentSignals: recent.slice(-RECENT_SIGNALS_KEPT) }
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
  return { ...s, replicas: { ...s.replicas, [r.id]: r }, currentReplicaId: r.id }
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
  return { ...s, replicas: { ...s.replicas, [r.id]: r }, currentReplicaId: r.id }
}

/** The replica becomes the agent's instance (manual promotion or failover). */
function promote(s: AgentState, e: DecisionOf<'decision.replica_promoted' | 'decision.failover_executed'>): AgentState {
  const d = e.data
  const r = s.replicas[d.replicaId]
  const replicas = r ? { ...s.replicas, [r.id]: { ...r, status: 'promoted' as const, promotedAt: iso(e.occurredAt) } } : s.replicas
  return {
    ...s, ...onPool(d.newPoolId), instanceId: d.newInstanceId, replicas,
    spotPrice: d.newSpotPrice ?? s.spotPrice, onDemandPrice: d.onDemandPrice ?? s.onDemandPrice,
    currentReplicaId: s.currentReplicaId === d.replicaId ? null : s.currentReplicaId,
  }
}

/** The agent confirms a promotion and names the instance now serving (usually the replica's own). */
function promotedReported(s: AgentState, e: InputOf<'replica.promoted'>): AgentState {
  const r = s.replicas[e.data.replicaId]
  if (!r || r.status !== 'promoted') return s
  const newId = e.data.newInstanceId
  return {
    ...s, instanceId: s.instanceId === r.instanceId ? newId : s.instanceId,
    replicas: { ...s.replicas, [r.id]: { ...r, instanceId: newId } },
  }
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
  const inputs = new Set(log.filter((e) => !isDecision(e)).map((e) => e.eventId))
  const caused = new Map<string, DecisionEvent[]>()
  for (const e of log) {
    if (isDecision(e) && inputs.has(e.causeEventId)) caused.set(e.causeEventId, [...caused.get(e.causeEventId) ?? [], e])
  }
  let s = initial
  for (const e of log) {
    if (isDecision(e)) {
      if (!inputs.has(e.causeEventId)) s = evolve(s, e)
      continue
    }
    const decisions = caused.get(e.eventId) ?? []
    if (!decisions.some((d) => d.type === 'decision.rejected')) s = evolve(s, e)
    s = decisions.reduce(evolve, s)
  }
  return s
}
