/**
 * The transactional shell around the agent rules: an EventHandler that, for
 * one batch, locks the batch's agents with one SELECT ... FOR UPDATE, loads
 * their live replicas, the replicas the events name and their recent signals,
 * folds decide/evolve in memory per agent in event order, then writes agents,
 * replicas, interruption and switch rows back with one statement per table,
 * and emits decisions, commands and rejections through the batch context.
 *
 * HTTP commands go through the same code: see submitAgentEvent.
 */
import { randomUUID } from 'node:crypto'
import type { Kysely, Transaction } from 'kysely'
import type { Database, NewInstanceSwitch, NewSpotInterruptionEvent } from '../db/database.js'
import { toDbTime } from '../db/time.js'
import type { EventType, SpotEvent } from '../events/schemas.js'
import { parsePoolId } from '../events/schemas.js'
import { applyEvents } from '../log/apply-batch.js'
import type { BatchContext, CommandEvent, EventHandler } from '../log/pipeline.js'
import { lockForHandlers } from '../log/pipeline.js'
import { AGENT_WIRE_TYPES, type AgentInput, type DecisionEvent, USER_REQUEST_TYPES } from './agent.events.js'
import {
  type AgentState, type Outcome, type PoolQuery, type RebalancePolicy, type ReplicaState, type RuleEnv, applyOutcome, decide, rejection,
} from './agent.rules.js'
import {
  type PoolCandidate, type ReplicaWrite, agentFromRow, appendToLog, ensureAgents, insertInterruptions, insertSwitches,
  loadPoolCandidates, loadRecentSignals, loadReplicas, lockAgents, recordFailoverCompletions, replicaFromRow, saveAgents, saveReplicas,
} from './agent.repository.js'

export interface AgentHandlerOptions {
  rebalancePolicy: RebalancePolicy
  recentInterruptionMinutes: number
  clock?: () => Date
  newId?: () => string
}

// The pipeline's types name wire events only; user requests travel the same
// road (event_log, handlers, context), so they are widened here, in one place.
const asPipelineEvent = (e: AgentInput) => e as unknown as SpotEvent
export const AGENT_HANDLED_TYPES = new Set<string>([...AGENT_WIRE_TYPES, ...USER_REQUEST_TYPES]) as ReadonlySet<string> as ReadonlySet<EventType>

export function agentHandler(opts: AgentHandlerOptions): EventHandler {
  return {
    name: 'agent-rules',
    handles: AGENT_HANDLED_TYPES,
    apply: (trx, events, ctx) => applyAgentEvents(trx, events as readonly SpotEvent[] as unknown as readonly AgentInput[], ctx, opts),
    lock: async (trx, events) => { await lockBatchAgents(trx, groupByAgent(events as readonly SpotEvent[] as unknown as readonly AgentInput[])) },
  }
}

/** Ranks the known pools: safest = fewest interruptions, then price; cheapest = price, then interruptions. */
export function poolChooser(candidates: readonly PoolCandidate[]): (q: PoolQuery) => string | null {
  const price = (c: PoolCandidate) => c.spotPrice ?? Number.POSITIVE_INFINITY
  return (q) => {
    const keys = (c: PoolCandidate) => q.prefer === 'safest' ? [c.interruptions, price(c)] : [price(c), c.interruptions]
    const best = candidates
      .filter((c) => c.instanceType === q.instanceType && !q.exclude.includes(c.poolId))
      .map((c) => ({ c, k: keys(c) }))
      .sort((a, b) => (a.k[0]! - b.k[0]!) || (a.k[1]! - b.k[1]!) || a.c.poolId.localeCompare(b.c.poolId))[0]
    return best?.c.poolId ?? null
  }
}

const replicaIdOf = (e: AgentInput): string | null => ('replicaId' in e.data ? e.data.replicaId : null)

/** Instance types whose pools a replica may be placed in: known now or named by the batch. */
function instanceTypes(states: readonly AgentState[], events: readonly AgentInput[]): string[] {
  const types = new Set(states.map((s) => s.instanceType).filter((x): x is string => x !== null))
  for (const e of events) {
    if (e.type === 'agent.registered') types.add(e.data.instanceType)
    const pool = 'poolId' in e.data ? e.data.poolId : e.type === 'agent.instance_switched' ? e.data.newPoolId : undefined
    const t = pool ? parsePoolId(pool)?.instanceType : undefined
    if (t) types.add(t)
  }
  return [...types]
}

export async function applyAgentEvents(trx: Transaction<Database>, events: readonly AgentInput[], ctx: BatchContext, opts: AgentHandlerOptions): Promise<void> {
  if (events.length === 0) return
  const byAgent = groupByAgent(events)
  const { states, owner, choosePool } = await loadBatchState(trx, byAgent)

  const out = new Writes()
  for (const before of states) {
    let state = before
    for (const e of byAgent.get(state.agentId) ?? []) {
      const env = ruleEnv(opts, choosePool)
      const named = replicaIdOf(e)
      const outcome = named !== null && owner.has(named) && owner.get(named) !== state.agentId
        ? rejection(e, `replica ${named} belongs to another agent`, env)
        : decide(e, state, env)
      out.collect(state, e, outcome)
      emit(ctx, e, outcome)
      state = applyOutcome(state, e, outcome)
    }
    out.changed(before, state)
  }
  await out.flush(trx)
}

function groupByAgent(events: readonly AgentInput[]): Map<string, AgentInput[]> {
  const byAgent = new Map<string, AgentInput[]>()
  for (const e of events) byAgent.set(e.agentId, [...byAgent.get(e.agentId) ?? [], e])
  return byAgent
}

/**
 * Creates and locks the agents' rows. Also run (as the handler's lock hook)
 * before the inputs are appended to event_log: the log order of an agent's
 * inputs must be the order in which transactions held its lock, or a replay
 * would fold two concurrent transactions' inputs in the wrong order.
 */
async function lockBatchAgents(trx: Transaction<Database>, byAgent: ReadonlyMap<string, readonly AgentInput[]>) {
  const agentIds = [...byAgent.keys()]
  // Rows are created and locked in id order, so two transactions never wait on each other in a cycle.
  await ensureAgents(trx, [...agentIds].sort().map((id) => ({ id, clientId: byAgent.get(id)![0]!.clientId })))
  return lockAgents(trx, agentIds)
}

/** Locks the batch's agents (again: a no-op when the lock hook ran) and loads what the rules read: one statement per table. */
async function loadBatchState(trx: Transaction<Database>, byAgent: ReadonlyMap<string, readonly AgentInput[]>) {
  const agentIds = [...byAgent.keys()]
  const events = [...byAgent.values()].flat()
  const rows = await lockBatchAgents(trx, byAgent)
  const named = [...new Set(events.map(replicaIdOf).filter((x): x is string => x !== null))]
  const replicaRows = await loadReplicas(trx, agentIds, named)
  const signals = await loadRecentSignals(trx, agentIds)
  const replicasOf = new Map<string, ReplicaState[]>()
  for (const r of replicaRows) replicasOf.set(r.agent_id, [...replicasOf.get(r.agent_id) ?? [], replicaFromRow(r)])
  const loaded = new Map(rows.map((a) => [a.id, agentFromRow(a, replicasOf.get(a.id) ?? [], signals.get(a.id) ?? [])]))
  // Folded in order of appearance, so the log reads like the batch.
  const states = agentIds.map((id) => loaded.get(id)!)
  return {
    states,
    owner: new Map(replicaRows.map((r) => [r.id, r.agent_id])),
    choosePool: poolChooser(await loadPoolCandidates(trx, instanceTypes(states, events))),
  }
}

function ruleEnv(opts: AgentHandlerOptions, choosePool: RuleEnv['choosePool']): RuleEnv {
  return {
    now: opts.clock?.() ?? new Date(), newId: opts.newId ?? randomUUID, rebalancePolicy: opts.rebalancePolicy,
    recentInterruptionMinutes: opts.recentInterruptionMinutes, choosePool,
  }
}

function emit(ctx: BatchContext, e: AgentInput, outcome: Outcome): void {
  const cause = asPipelineEvent(e)
  for (const d of outcome.decisions) {
    ctx.decision({
      eventId: d.eventId, type: d.type, clientId: d.clientId, agentId: d.agentId, occurredAt: d.occurredAt,
      payload: d, causeEventId: d.causeEventId,
    })
  }
  for (const c of outcome.commands) ctx.command(c, cause)
  if (outcome.rejection !== undefined) ctx.reject(cause, outcome.rejection)
}

/** Row changes gathered while folding, written once per batch. */
class Writes {
  private readonly agents: AgentState[] = []
  private readonly replicas: ReplicaWrite[] = []
  private readonly interruptions: NewSpotInterruptionEvent[] = []
  private readonly switches: NewInstanceSwitch[] = []
  private readonly completions: { replicaId: string, at: string }[] = []

  collect(s: AgentState, e: AgentInput, outcome: Outcome): void {
    if (outcome.rejection !== undefined) return
    if (e.type === 'replica.promoted') this.completions.push({ replicaId: e.data.replicaId, at: e.occurredAt })
    if (e.type === 'agent.instance_switched') {
      const d = e.data
      this.switches.push({
        event_id: e.eventId, client_id: s.clientId, agent_id: s.agentId, old_instance_id: d.oldInstanceId,
        new_instance_id: d.newInstanceId, old_pool_id: d.oldPoolId, new_pool_id: d.newPoolId, old_mode: s.mode,
        new_mode: s.mode, on_demand_price: d.onDemandPrice, old_spot_price: d.oldSpotPrice, new_spot_price: d.newSpotPrice,
        event_trigger: d.trigger, reason: d.trigger, switched_at: toDbTime(e.occurredAt),
      })
    }
    for (const d of outcome.decisions) this.decision(s, d)
  }

  private decision(s: AgentState, d: DecisionEvent): void {
    if (d.type === 'decision.signal_recorded') {
      const x = d.data
      this.interruptions.push({
        event_id: d.causeEventId, client_id: s.clientId, agent_id: s.agentId, instance_id: x.instanceId, pool_id: x.poolId,
        signal_type: x.signalType, detected_at: toDbTime(x.detectedAt),
        termination_time: x.terminationTime === null ? null : toDbTime(x.terminationTime), response_action: x.responseAction,
        // NULL until the agent reports the replica promoted (recordFailoverCompletions).
        replica_id: x.replicaId, response_time_ms: x.responseTimeMs, failover_time_ms: null,
        success: x.success ? 1 : 0, error_message: x.error,
      })
    } else if (d.type === 'decision.failover_executed' || d.type === 'decision.replica_promoted') {
      const x = d.data
      const failover = d.type === 'decision.failover_executed'
      this.switches.push({
        event_id: d.eventId, client_id: s.clientId, agent_id: s.agentId, old_instance_id: x.oldInstanceId,
        new_instance_id: x.newInstanceId, old_pool_id: x.oldPoolId, new_pool_id: x.newPoolId, old_mode: s.mode,
        new_mode: s.mode, on_demand_price: x.onDemandPrice, old_spot_price: x.oldSpotPrice, new_spot_price: x.newSpotPrice,
        event_trigger: failover ? d.data.signalType : 'user',
        reason: failover ? 'automatic-interruption-failover' : 'manual-replica-promotion', switched_at: toDbTime(d.occurredAt),
      })
    }
  }

  /** Queues the agent row and the replicas that differ from what was loaded. */
  changed(before: AgentState, after: AgentState): void {
    const { replicas: rb, ...ab } = before
    const { replicas: ra, ...aa } = after
    if (JSON.stringify(ab) !== JSON.stringify(aa)) this.agents.push(after)
    for (const r of Object.values(ra)) {
      if (JSON.stringify(rb[r.id]) !== JSON.stringify(r)) this.replicas.push({ agentId: after.agentId, clientId: after.clientId, replica: r })
    }
  }

  async flush(trx: Transaction<Database>): Promise<void> {
    await saveAgents(trx, this.agents)
    await saveReplicas(trx, this.replicas)
    await insertInterruptions(trx, this.interruptions)
    await insertSwitches(trx, this.switches)
    await recordFailoverCompletions(trx, this.completions)
  }
}

export interface SubmitResult {
  /** The event id was logged before: nothing was applied again. */
  duplicate: boolean
  /** Why the rules refused it (HTTP 409), or null. */
  rejection: string | null
  decisions: DecisionEvent[]
  commands: CommandEvent[]
}

/**
 * The HTTP entry: a user request (or an agent.config_changed built from a
 * config form) is appended to event_log with source 'http' and applied by the
 * same handlers as consumed events, in one transaction. The caller has
 * already checked that the agent belongs to the requesting client (this
 * would otherwise create the agent row).
 */
export async function submitAgentEvent(db: Kysely<Database>, event: AgentInput, handlers: readonly EventHandler[]): Promise<SubmitResult> {
  // READ COMMITTED, as in applyBatch: reads made after the agent lock must see what the lock's previous holder committed.
  return db.transaction().setIsolationLevel('read committed').execute(async (trx) => {
    await lockForHandlers(trx, [asPipelineEvent(event)], handlers)
    if (!(await appendToLog(trx, event, 'http'))) return { duplicate: true, rejection: null, decisions: [], commands: [] }
    const out = await applyEvents(trx, [asPipelineEvent(event)], handlers)
    const emitted = out.decisions.filter((d) => d.cause_event_id === event.eventId).map((d) => JSON.parse(d.payload) as { type: string })
    return {
      duplicate: false,
      rejection: out.rejected.get(event.eventId) ?? null,
      decisions: emitted.filter((d): d is DecisionEvent => d.type.startsWith('decision.')),
      commands: emitted.filter((d): d is CommandEvent => d.type.startsWith('command.')),
    }
  })
}
