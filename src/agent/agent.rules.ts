/**
 * The agent rules (DESIGN §3) as a pure decider: decide(input, state, env)
 * returns decisions, commands for the agent, or a rejection; evolve() (in
 * agent.state.ts, re-exported here) folds inputs and decisions into state.
 * No I/O: the clock, ids, the rebalance policy and the pool ranking come in
 * through `env`. The consumer and the HTTP commands both run this code.
 *
 * Applying an input = evolve over the input unless it was rejected or
 * parked, then over each decision (applyOutcome). A rejection changes nothing
 * and is recorded as `decision.rejected`; late, duplicate and out-of-order
 * replica reports are rejected, never thrown. Interruption signals are never
 * rejected (DESIGN §1): whatever arrived before them, they are recorded and a
 * termination notice is answered; only a true duplicate is answered once.
 * Inputs of an agent that has not registered are parked
 * (`decision.input_parked`) and released by its registration.
 */
import type { CommandEvent, CommandType } from '../log/decider.js'
import { type RefusalCode, parksInput, releasedIds } from '../log/decisions.js'
import type { EventOf } from '../events/schemas.js'
import { parsePoolId } from '../events/schemas.js'
import type { AgentInput, DecisionEvent, DecisionOf, DecisionType, InputOf } from './agent.events.js'
import { DURATION_MS_MAX } from './agent.events.js'
import {
  type AgentState, type ReplicaState, type ReplicaType, assertNever, currentReplica, evolve, inputApplies, iso, isLive, placeOf,
} from './agent.state.js'

export { evolve, initialAgentState, currentReplica, isLive, replay } from './agent.state.js'
export type { AgentState, ReplicaState, RecentSignal } from './agent.state.js'

export type RebalancePolicy = 'replica' | 'ignore' | 'failover'

export interface PoolQuery {
  instanceType: string
  /** Never chosen: the agent's current pool and pools that interrupted it recently. */
  exclude: readonly string[]
  /** Safest for interruption responses (fewest interruptions, then price); cheapest for manual replicas. */
  prefer: 'safest' | 'cheapest'
}

export interface RuleEnv {
  now: Date
  newId: () => string
  rebalancePolicy: RebalancePolicy
  /** A pool that interrupted this agent within these minutes is not chosen for its replica. */
  recentInterruptionMinutes: number
  choosePool: (q: PoolQuery) => string | null
}

export interface Outcome {
  decisions: DecisionEvent[]
  commands: CommandEvent[]
  rejection?: string
  rejectionCode?: RefusalCode
}

/** Why a rule refused an input: a stable code and the reason in words. */
export interface Refusal { code: RefusalCode, reason: string }
export const refuse = (code: RefusalCode, reason: string): Refusal => ({ code, reason })

/** Collects the effects of one decide() call, stamped with the input's envelope. */
class Effects {
  readonly decisions: DecisionEvent[] = []
  readonly commands: CommandEvent[] = []
  constructor(private readonly input: AgentInput, private readonly env: RuleEnv) {}

  private envelope() {
    return {
      eventId: this.env.newId(), version: 1 as const, occurredAt: this.env.now.toISOString(),
      clientId: this.input.clientId, agentId: this.input.agentId,
    }
  }
  decision<T extends DecisionType>(type: T, data: DecisionOf<T>['data']): void {
    this.decisions.push({ ...this.envelope(), type, causeEventId: this.input.eventId, data } as DecisionOf<T>)
  }
  command<T extends CommandType>(type: T, data: EventOf<T>['data']): void {
    this.commands.push({ ...this.envelope(), type, data } as EventOf<T>)
  }
}

type Rule<T extends AgentInput['type']> = (e: InputOf<T>, s: AgentState, env: RuleEnv, fx: Effects) => Refusal | undefined

export function decide(input: AgentInput, state: AgentState, env: RuleEnv): Outcome {
  const fx = new Effects(input, env)
  if (!state.registered) return unregistered(input, state, fx)
  const refusal = input.clientId !== state.clientId
    ? refuse('other_client', `agent ${state.agentId} belongs to another client`)
    : route(input, state, env, fx)
  return refusal === undefined ? { decisions: fx.decisions, commands: fx.commands } : rejection(input, refusal, env)
}

/**
 * Only agent.registered creates an agent and binds it to its client; what
 * arrives before it is parked, and the registration releases it in
 * (occurredAt, event id) order, to be applied right after it.
 */
function unregistered(input: AgentInput, s: AgentState, fx: Effects): Outcome {
  if (input.type === 'agent.registered') {
    const order = [...s.parked].sort((a, b) => a.occurredAt.localeCompare(b.occurredAt) || a.eventId.localeCompare(b.eventId))
    if (order.length > 0) fx.decision('decision.parked_released', { eventIds: order.map((p) => p.eventId) })
  } else {
    fx.decision('decision.input_parked', {
      inputType: input.type, inputOccurredAt: iso(input.occurredAt), reason: `agent ${s.agentId} has not registered yet`,
    })
  }
  return { decisions: fx.decisions, commands: fx.commands }
}

/** The ids a registration's outcome releases, in the order they are to be applied. */
export const releasedBy = (outcome: Outcome): readonly string[] => releasedIds(outcome.decisions)

export const isParked = (outcome: Outcome): boolean => parksInput(outcome.decisions)

/** The outcome of refusing `input`: only a `decision.rejected` naming it; state stays as it was. */
export function rejection(input: AgentInput, { code, reason }: Refusal, env: RuleEnv): Outcome {
  const fx = new Effects(input, env)
  fx.decision('decision.rejected', { reason, rejectedType: input.type, code })
  return { decisions: fx.decisions, commands: [], rejection: reason, rejectionCode: code }
}

/** evolve over the input (unless rejected or parked), then over each decision. */
export function applyOutcome(state: AgentState, input: AgentInput, outcome: Outcome): AgentState {
  const s = inputApplies(outcome.decisions) ? evolve(state, input) : state
  return outcome.decisions.reduce(evolve, s)
}

function route(e: AgentInput, s: AgentState, env: RuleEnv, fx: Effects): Refusal | undefined {
  switch (e.type) {
    // Facts about the agent's own instance: nothing to decide.
    case 'agent.registered':
    case 'agent.heartbeat':
    case 'agent.instance_switched': return placePendingReplica(e, s, env, fx)
    case 'agent.config_changed': return onConfigChanged(e, s, env, fx)
    case 'spot.rebalance_recommendation': return onRebalance(e, s, env, fx)
    case 'spot.termination_notice': return onTermination(e, s, env, fx)
    case 'replica.launched': return onLaunched(e, s)
    case 'replica.sync_progress': return endedAlready(s, e.data.replicaId) ? undefined : launchedLive(s, e.data.replicaId)
    case 'replica.ready': return s.replicas[e.data.replicaId]?.status === 'ready'
      ? refuse('already_reported', `replica ${e.data.replicaId} is already ready`)
      : endedAlready(s, e.data.replicaId) ? undefined : launchedLive(s, e.data.replicaId)
    case 'replica.promoted': return onPromotedReported(e, s)
    case 'replica.terminated': return onTerminatedReported(e, s)
    case 'replica.failed': return known(s, e.data.replicaId, (r) => isLive(r) ? undefined : refuse('replica_not_live', `replica ${r.id} is already ${r.status}`))
    case 'user.replica_create_requested': return onCreateRequested(e, s, env, fx)
    case 'user.replica_promote_requested': return onPromoteRequested(e, s, env, fx)
    case 'user.replica_delete_requested': return onDeleteRequested(e, s, env, fx)
    case 'user.switch_requested': return onSwitchRequested(e, s, env, fx)
    default: return assertNever(e)
  }
}

// ---- configuration ----

const onConfigChanged: Rule<'agent.config_changed'> = (e, s, env, fx) => {
  const d = e.data
  // Enabling one mode turns the other off in the same decision (the schema refuses both on).
  const next = {
    autoSwitchEnabled: d.manualReplicaEnabled === true ? false : d.autoSwitchEnabled ?? s.autoSwitchEnabled,
    manualReplicaEnabled: d.autoSwitchEnabled === true ? false : d.manualReplicaEnabled ?? s.manualReplicaEnabled,
    autoTerminateEnabled: d.autoTerminateEnabled ?? s.autoTerminateEnabled,
    terminateWaitMinutes: d.terminateWaitMinutes ?? s.terminateWaitMinutes,
    enabled: d.enabled ?? s.enabled,
  }
  fx.decision('decision.config_applied', next)
  const live = currentReplica(s)
  const manualOff = s.manualReplicaEnabled && !next.manualReplicaEnabled
  const autoOn = !s.autoSwitchEnabled && next.autoSwitchEnabled
  if (live?.replicaType === 'manual' && (manualOff || autoOn)) {
    terminate(fx, live, autoOn ? 'auto-switch-enabled' : 'manual-replica-disabled')
  }
  // "Enable manual mode" also re-arms it: a save with manual on and no live replica launches one.
  if (d.manualReplicaEnabled === true && !live) {
    const r = requestReplica(s, env, fx, { replicaType: 'manual', reason: 'manual-replica-enabled', prefer: 'cheapest', createdBy: 'user' })
    if ('error' in r) fx.decision('decision.replica_unavailable', { replicaType: 'manual', reason: r.error.reason })
  }
  return undefined
}

/**
 * Manual mode switched on before any other pool was known leaves the replica
 * pending (decision.replica_unavailable); the agent's next report after a
 * pool is known places it. Nothing is logged while none is: the pending flag
 * already says so.
 */
function placePendingReplica(e: AgentInput, before: AgentState, env: RuleEnv, fx: Effects): undefined {
  if (!before.manualReplicaPending || !before.manualReplicaEnabled || !before.enabled) return undefined
  const s = evolve(before, e)
  if (currentReplica(s)) return undefined
  requestReplica(s, env, fx, { replicaType: 'manual', reason: 'manual-replica-pending', prefer: 'cheapest', createdBy: 'user' })
  return undefined
}

// ---- interruption signals ----

const isAutomatic = (s: AgentState) => s.enabled && s.autoSwitchEnabled && !s.manualReplicaEnabled
/** Ready, else syncing: one live replica at most, so its status decides. */
const canTakeOver = (r: ReplicaState): boolean => (r.status === 'ready' || r.status === 'syncing') && r.instanceId !== null

type SignalInput = InputOf<'spot.rebalance_recommendation' | 'spot.termination_notice'>

/** Why a signal is about an instance the agent has left, or null when it names the agent's instance (current, or newer than its facts). */
function leftInstance(e: SignalInput, s: AgentState): string | null {
  return placeOf(s, e.data.instanceId, e.occurredAt) === 'former'
    ? `instance ${e.data.instanceId} is not the agent's current instance (${s.instanceId ?? 'none'})` : null
}

const onRebalance: Rule<'spot.rebalance_recommendation'> = (e, before, env, fx) => {
  // Recorded either way; only a signal for the agent's own instance may act.
  const left = leftInstance(e, before)
  if (left) return record(fx, e, env, { responseAction: 'no-action', error: left })
  const s = evolve(before, e)
  const live = currentReplica(s)
  if (!isAutomatic(s)) return record(fx, e, env, { responseAction: 'no-action', replicaId: live?.id ?? null })
  if (env.rebalancePolicy === 'ignore') return record(fx, e, env, { responseAction: 'ignored', replicaId: live?.id ?? null })
  if (env.rebalancePolicy === 'failover' && live && canTakeOver(live)) return failover(e, s, env, fx, live)
  if (live) return record(fx, e, env, { responseAction: 'no-action', replicaId: live.id })
  const r = requestReplica(s, env, fx, {
    replicaType: 'automatic-rebalance', reason: 'rebalance-recommendation', prefer: 'safest', createdBy: 'system', signalPool: e.data.poolId,
  })
  return 'error' in r
    ? record(fx, e, env, { responseAction: 'no-action', success: false, error: r.error.reason })
    : record(fx, e, env, { responseAction: 'replica-created', replicaId: r.replicaId })
}

/** Same instance, same termination time: the agent sent the notice again; it was answered. */
const isDuplicateNotice = (e: InputOf<'spot.termination_notice'>, s: AgentState): boolean =>
  s.recentSignals.some((x) => x.signalType === 'termination-notice' && x.instanceId === e.data.instanceId
    && x.terminationTime === iso(e.data.terminationTime))

/**
 * Never dropped, whatever the mode or what arrived before it. For the
 * agent's instance (current, or newer than its facts: a switch not seen yet):
 * fail over if a replica can take over, else an emergency snapshot. For an
 * instance the agent has left (after a failover, say): an emergency snapshot
 * of that instance, whatever is left on it; never a failover, which would
 * move the agent off the healthy instance it runs now.
 */
const onTermination: Rule<'spot.termination_notice'> = (e, before, env, fx) => {
  if (isDuplicateNotice(e, before)) return undefined
  const left = leftInstance(e, before)
  const s = evolve(before, e)
  const live = left ? null : currentReplica(s)
  if (live && canTakeOver(live)) return failover(e, s, env, fx, live)
  fx.decision('decision.emergency_snapshot_requested', { instanceId: e.data.instanceId, signalEventId: e.eventId })
  fx.command('command.emergency_snapshot', { instanceId: e.data.instanceId })
  return record(fx, e, env, {
    responseAction: 'emergency-snapshot', replicaId: live?.id ?? null, success: false,
    error: left ?? (live ? `replica ${live.id} is still ${live.status}` : 'no replica to fail over to'),
  })
}

/** A duration the service derives, saturated to its INT column: never a reason to refuse the event. */
const durationMs = (ms: number): number => Math.min(DURATION_MS_MAX, Math.max(0, Math.round(ms)))
const sinceSignal = (e: SignalInput, env: RuleEnv): number => durationMs(env.now.getTime() - Date.parse(e.occurredAt))

/** `s` is the state with the signal's facts applied: its instance is the one being left. */
function failover(e: SignalInput, s: AgentState, env: RuleEnv, fx: Effects, r: ReplicaState): undefined {
  // Measured by the service from the agent's detection to this decision. The
  // agent's promotion report would give an end-to-end time, but it arrives in
  // a later batch and the row is written now.
  const elapsed = sinceSignal(e, env)
  fx.decision('decision.failover_executed', {
    ...promotion(s, r, e.occurredAt), signalEventId: e.eventId,
    signalType: signalTypeOf(e), responseTimeMs: elapsed, failoverTimeMs: elapsed,
  })
  fx.command('command.promote_replica', { replicaId: r.id })
  return record(fx, e, env, { responseAction: 'failover', replicaId: r.id, failoverTimeMs: elapsed })
}

function promotion(s: AgentState, r: ReplicaState, effectiveAt: string) {
  return {
    replicaId: r.id, oldInstanceId: s.instanceId, newInstanceId: r.instanceId!,
    oldPoolId: s.poolId, newPoolId: r.poolId,
    onDemandPrice: s.onDemandPrice, oldSpotPrice: s.spotPrice, newSpotPrice: r.hourlyCost,
    effectiveAt: iso(effectiveAt),
  }
}

const signalTypeOf = (e: AgentInput) => e.type === 'spot.termination_notice' ? 'termination-notice' as const : 'rebalance-recommendation' as const

type Response = Pick<DecisionOf<'decision.signal_recorded'>['data'], 'responseAction'>
  & Partial<Pick<DecisionOf<'decision.signal_recorded'>['data'], 'replicaId' | 'success' | 'error' | 'failoverTimeMs'>>

/** The spot_interruption_events row for a signal, with the response taken. */
function record(fx: Effects, e: SignalInput, env: RuleEnv, r: Response): undefined {
  fx.decision('decision.signal_recorded', {
    signalType: signalTypeOf(e), instanceId: e.data.instanceId, poolId: e.data.poolId, detectedAt: iso(e.occurredAt),
    terminationTime: e.type === 'spot.termination_notice' ? iso(e.data.terminationTime) : null,
    responseTimeMs: sinceSignal(e, env), clockSkewMs: Date.parse(e.occurredAt) - env.now.getTime(),
    replicaId: null, success: true, error: null, failoverTimeMs: null, ...r,
  })
  return undefined
}

// ---- replicas ----

interface ReplicaRequest {
  replicaType: ReplicaType
  reason: string
  prefer: PoolQuery['prefer']
  createdBy: 'system' | 'user'
  /** The pool an interruption signal names: excluded too, whatever the agent last reported. */
  signalPool?: string
  /** A pool the user chose. */
  poolId?: string
  /** The id the HTTP layer already handed out. */
  replicaId?: string
}

function excludedPools(s: AgentState, env: RuleEnv, signalPool: string | null): string[] {
  const since = env.now.getTime() - env.recentInterruptionMinutes * 60_000
  const recent = s.recentSignals.filter((x) => Date.parse(x.at) >= since).map((x) => x.poolId)
  return [...new Set([s.poolId, signalPool, ...recent].filter((p): p is string => p !== null))]
}

function requestReplica(s: AgentState, env: RuleEnv, fx: Effects, q: ReplicaRequest): { replicaId: string } | { error: Refusal } {
  const current = s.poolId ?? q.signalPool ?? null
  if (current === null) return { error: refuse('no_pool', 'the agent has not reported its instance yet') }
  const exclude = excludedPools(s, env, q.signalPool ?? null)
  let poolId = q.poolId ?? null
  if (poolId === null) {
    const instanceType = s.instanceType ?? parsePoolId(current)?.instanceType
    const chosen = instanceType ? env.choosePool({ instanceType, exclude, prefer: q.prefer }) : null
    // Guard against a ranking that ignored `exclude`: a replica in the failing pool protects nothing.
    if (chosen === null || exclude.includes(chosen)) return { error: refuse('no_pool', `no spot pool known besides ${exclude.join(', ')}`) }
    poolId = chosen
  } else if (poolId === current) {
    return { error: refuse('pool_mismatch', `pool ${poolId} is the agent's current pool`) }
  } else {
    const mismatch = poolMismatch(poolId, current)
    if (mismatch) return { error: mismatch }
  }
  const replicaId = q.replicaId ?? env.newId()
  fx.decision('decision.replica_requested', {
    replicaId, poolId, replicaType: q.replicaType, reason: q.reason, parentInstanceId: s.instanceId, createdBy: q.createdBy,
  })
  fx.command('command.launch_replica', { replicaId, poolId, reason: q.reason })
  return { replicaId }
}

/** A replica must be able to take over: same instance type, same region as the agent's pool. */
function poolMismatch(poolId: string, current: string): Refusal | null {
  const want = parsePoolId(poolId)
  const have = parsePoolId(current)
  if (want === null || have === null) return null
  if (want.instanceType !== have.instanceType) return refuse('pool_mismatch', `pool ${poolId} is of instance type ${want.instanceType}, the agent runs ${have.instanceType}`)
  if (want.region !== have.region) return refuse('pool_mismatch', `pool ${poolId} is in region ${want.region}, the agent runs in ${have.region}`)
  return null
}

function terminate(fx: Effects, r: ReplicaState, reason: string): void {
  fx.decision('decision.replica_termination_requested', { replicaId: r.id, reason })
  fx.command('command.terminate_replica', { replicaId: r.id })
}

function known(s: AgentState, id: string, check: (r: ReplicaState) => Refusal | undefined): Refusal | undefined {
  const r = s.replicas[id]
  return r ? check(r) : refuse('unknown_replica', `unknown replica ${id}`)
}

/**
 * Progress or readiness of a replica that has ended (promoted, terminated,
 * failed): the agent sent it before it heard, on another topic, that the
 * service promoted or ended the replica. Older news, not bad input: accepted,
 * and it changes nothing.
 */
function endedAlready(s: AgentState, id: string): boolean {
  const r = s.replicas[id]
  return r !== undefined && !isLive(r)
}

/** Progress and readiness need a live replica whose launch was reported. */
function launchedLive(s: AgentState, id: string): Refusal | undefined {
  return known(s, id, (r) => !isLive(r) ? refuse('replica_not_live', `replica ${id} is already ${r.status}`)
    : r.instanceId === null ? refuse('replica_not_launched', `replica ${id} has not been reported launched`) : undefined)
}

function onLaunched(e: InputOf<'replica.launched'>, s: AgentState): Refusal | undefined {
  const r = s.replicas[e.data.replicaId]
  if (r) {
    if (!isLive(r)) return refuse('replica_not_live', `replica ${r.id} is already ${r.status}`)
    return r.instanceId === null ? undefined : refuse('already_reported', `replica ${r.id} was already reported launched`)
  }
  // A replica the agent started on its own is adopted, unless it would be a second live one.
  const live = currentReplica(s)
  return live ? refuse('replica_already_live', `replica ${live.id} is already live; at most one live replica per agent`) : undefined
}

function onPromotedReported(e: InputOf<'replica.promoted'>, s: AgentState): Refusal | undefined {
  return known(s, e.data.replicaId, (r) => r.status === 'promoted' ? undefined
    : refuse('promotion_not_requested', `replica ${r.id} is ${r.status}; its promotion was not requested`))
}

/**
 * A termination report for a replica the service already ended (it marks a
 * replica terminated when it asks for that, so a new one can start at once)
 * is the agent's confirmation: accepted, and it changes nothing.
 */
function onTerminatedReported(e: InputOf<'replica.terminated'>, s: AgentState): Refusal | undefined {
  return known(s, e.data.replicaId, (r) => r.status === 'promoted'
    ? refuse('replica_promoted', `replica ${r.id} was promoted and is the agent's instance now`) : undefined)
}

const onCreateRequested: Rule<'user.replica_create_requested'> = (e, s, env, fx) => {
  const id = e.data.replicaId
  if (s.replicas[id]) return refuse('replica_exists', `replica ${id} already exists`)
  const live = currentReplica(s)
  if (live) return refuse('replica_already_live', `replica ${live.id} is already live; at most one live replica per agent`)
  const r = requestReplica(s, env, fx, {
    replicaType: 'manual', reason: 'user-requested', prefer: 'cheapest', createdBy: 'user', replicaId: id,
    ...(e.data.poolId === undefined ? {} : { poolId: e.data.poolId }),
  })
  return 'error' in r ? r.error : undefined
}

const onPromoteRequested: Rule<'user.replica_promote_requested'> = (e, s, _env, fx) => known(s, e.data.replicaId, (r) => {
  if (!isLive(r)) return refuse('replica_not_live', `replica ${r.id} is ${r.status}, not live`)
  if (!canTakeOver(r)) return refuse('replica_launching', `replica ${r.id} is still launching`)
  fx.decision('decision.replica_promoted', promotion(s, r, e.occurredAt))
  fx.command('command.promote_replica', { replicaId: r.id })
  return undefined
})

const onDeleteRequested: Rule<'user.replica_delete_requested'> = (e, s, _env, fx) => known(s, e.data.replicaId, (r) => {
  if (!isLive(r)) return refuse('replica_not_live', `replica ${r.id} is ${r.status}, not live`)
  terminate(fx, r, 'user-requested')
  return undefined
})

/**
 * A forced switch is the agent's to carry out (it starts the new instance):
 * the rules check it can be done and send command.switch_instance; the
 * agent's agent.instance_switched and heartbeats then move the agent's facts.
 */
const onSwitchRequested: Rule<'user.switch_requested'> = (e, s, _env, fx) => {
  const { target, poolId } = e.data
  if (target === 'ondemand') {
    if (s.mode === 'on-demand') return refuse('already_there', 'the agent already runs on demand')
  } else {
    if (poolId === undefined) return refuse('pool_required', 'a switch to a pool needs poolId')
    if (s.poolId === null) return refuse('no_pool', 'the agent has not reported its pool yet')
    if (poolId === s.poolId && s.mode === 'spot') return refuse('already_there', `the agent already runs in pool ${poolId}`)
    const mismatch = poolMismatch(poolId, s.poolId)
    if (mismatch) return mismatch
  }
  const data = { target, poolId: target === 'pool' ? poolId ?? null : null }
  fx.decision('decision.switch_requested', data)
  fx.command('command.switch_instance', data)
  return undefined
}
