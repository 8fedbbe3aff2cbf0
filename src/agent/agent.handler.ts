/**
 * The transactional shell around the agent rules: an EventHandler that, for
 * one batch, locks the batch's agents once (agent_locks, registered or not),
 * loads their live replicas, the replicas the events name, their recent
 * signals and, where a registration arrives, their parked inputs; folds
 * decide/evolve in memory per agent in event order (a registration's
 * released inputs right after it), then writes agents, replicas,
 * interruption, switch and parking rows back with one statement per table,
 * and emits decisions, commands and rejections through the batch context.
 *
 * HTTP commands go through the same code: see submitAgentEvent.
 */
import { randomUUID } from 'node:crypto'
import type { Kysely, Transaction } from 'kysely'
import type { AgentParkedEventRow, AgentRow, Database, NewInstanceSwitch, NewSpotInterruptionEvent } from '../db/database.js'
import { isoFromDb, toDbTime } from '../db/time.js'
import { parseEventObject } from '../events/parse.js'
import type { EventType, SpotEvent } from '../events/schemas.js'
import { parsePoolId } from '../events/schemas.js'
import { applyEvents } from '../log/apply-batch.js'
import type { BatchContext, CommandEvent, EventHandler } from '../log/pipeline.js'
import { lockForHandlers } from '../log/pipeline.js'
import {
  AGENT_WIRE_TYPES, type AgentInput, type DecisionEvent, USER_REQUEST_TYPES, UserRequestSchema,
} from './agent.events.js'
import {
  type AgentState, type Outcome, type PoolQuery, type RebalancePolicy, type ReplicaState, type RuleEnv, applyOutcome, decide,
  initialAgentState, isParked, rejection, releasedBy,
} from './agent.rules.js'
import {
  type PoolCandidate, type ReplicaWrite, agentFromRow, appendToLog, deleteParked, insertInterruptions, insertParked, insertSwitches,
  loadParked, loadPoolCandidates, loadRecentSignals, loadReplicas, lockAgents, recordFailoverCompletions, replicaFromRow, saveAgents,
  saveReplicas,
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
const isAgentInput = (e: SpotEvent): e is SpotEvent & AgentInput => AGENT_HANDLED_TYPES.has(e.type)

export function agentHandler(opts: AgentHandlerOptions): EventHandler {
  return {
    name: 'agent-rules',
    handles: AGENT_HANDLED_TYPES,
    apply: (trx, events, ctx) => applyAgentEvents(trx, events as readonly SpotEvent[] as unknown as readonly AgentInput[], ctx, opts),
    lock: async (trx, events) => { await lockBatchAgents(trx, [...new Set(events.map((e) => e.agentId))]) },
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
  const { states, owner, choosePool, parkedBodies } = await loadBatchState(trx, byAgent)

  const out = new Writes(parkedBodies)
  for (const before of states) {
    let state = before
    const queue = [...byAgent.get(state.agentId) ?? []]
    for (let e = queue.shift(); e !== undefined; e = queue.shift()) {
      const env = ruleEnv(opts, choosePool)
      const named = replicaIdOf(e)
      const outcome = named !== null && owner.has(named) && owner.get(named) !== state.agentId
        ? rejection(e, `replica ${named} belongs to another agent`, env)
        : decide(e, state, env)
      out.collect(state, e, outcome)
      emit(ctx, e, outcome)
      state = applyOutcome(state, e, outcome)
      // A registration releases the agent's parked inputs: applied next, in the same transaction, before the rest of the batch.
      queue.unshift(...out.release(releasedBy(outcome)))
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
 * Agent locks held per transaction, with the rows read when they were taken.
 * The lock hook runs before the inputs are appended to event_log (the log
 * order of an agent's inputs must be the order in which transactions held
 * its lock, or a replay would fold two concurrent transactions' inputs in the
 * wrong order); apply then uses what the hook read instead of locking again.
 * A read is used once: a second apply in the same transaction reads the rows
 * the first one wrote.
 */
const held = new WeakMap<Transaction<Database>, { locked: Set<string>, fresh: Map<string, AgentRow | null> }>()

async function lockBatchAgents(trx: Transaction<Database>, agentIds: readonly string[]): Promise<void> {
  const h = held.get(trx) ?? { locked: new Set<string>(), fresh: new Map<string, AgentRow | null>() }
  held.set(trx, h)
  const missing = agentIds.filter((id) => !h.locked.has(id))
  if (missing.length === 0) return
  const rows = await lockAgents(trx, missing)
  for (const id of missing) {
    h.locked.add(id)
    h.fresh.set(id, rows.find((r) => r.id === id) ?? null)
  }
}

/** The agents' rows under their locks: the lock hook's read if unused, else locked (or, when held, read) now. */
async function agentRows(trx: Transaction<Database>, agentIds: readonly string[]): Promise<Map<string, AgentRow | null>> {
  const h = held.get(trx)
  const out = new Map<string, AgentRow | null>()
  const unread: string[] = []
  for (const id of agentIds) {
    if (h?.fresh.has(id)) {
      out.set(id, h.fresh.get(id)!)
      h.fresh.delete(id)
    } else if (h?.locked.has(id)) {
      unread.push(id)
    }
  }
  if (unread.length > 0) {
    const rows = await trx.selectFrom('agents').selectAll().where('id', 'in', unread).execute()
    for (const id of unread) out.set(id, rows.find((r) => r.id === id) ?? null)
  }
  const unlocked = agentIds.filter((id) => !out.has(id))
  if (unlocked.length > 0) {
    await lockBatchAgents(trx, unlocked)
    return new Map([...out, ...await agentRows(trx, unlocked)])
  }
  return out
}

/** Loads what the rules read, one statement per table: agents (locked once per transaction), replicas, recent signals, parked inputs, pools. */
async function loadBatchState(trx: Transaction<Database>, byAgent: ReadonlyMap<string, readonly AgentInput[]>) {
  const agentIds = [...byAgent.keys()]
  const events = [...byAgent.values()].flat()
  const rows = await agentRows(trx, agentIds)
  const registered = agentIds.filter((id) => rows.get(id))
  // Parked inputs matter only where a registration arrives.
  const registering = agentIds.filter((id) => !rows.get(id) && byAgent.get(id)!.some((e) => e.type === 'agent.registered'))
  const named = [...new Set(events.map(replicaIdOf).filter((x): x is string => x !== null))]
  const replicaRows = await loadReplicas(trx, registered, named)
  const signals = await loadRecentSignals(trx, registered)
  const parkedRows = await loadParked(trx, registering)
  const replicasOf = new Map<string, ReplicaState[]>()
  for (const r of replicaRows) replicasOf.set(r.agent_id, [...replicasOf.get(r.agent_id) ?? [], replicaFromRow(r)])
  const parkedBodies = new Map<string, AgentInput>()
  for (const p of parkedRows) parkedBodies.set(p.event_id, parkedInput(p))
  // Folded in order of appearance, so the log reads like the batch.
  const states = agentIds.map((id) => {
    const row = rows.get(id)
    if (row) return agentFromRow(row, replicasOf.get(id) ?? [], signals.get(id) ?? [])
    const parked = parkedRows.filter((p) => p.agent_id === id).map((p) => ({ eventId: p.event_id, occurredAt: isoFromDb(p.occurred_at)! }))
    return { ...initialAgentState(id, byAgent.get(id)![0]!.clientId), parked }
  })
  return {
    states,
    parkedBodies,
    owner: new Map(replicaRows.map((r) => [r.id, r.agent_id])),
    choosePool: poolChooser(await loadPoolCandidates(trx, instanceTypes(states, events))),
  }
}

/** A parked row back to the input it was: it passed the wire schema (or the user-request schema) when it arrived. */
function parkedInput(p: AgentParkedEventRow): AgentInput {
  const json: unknown = JSON.parse(p.payload)
  const user = UserRequestSchema.safeParse(json)
  if (user.success) return user.data
  const r = parseEventObject(json)
  if (!r.ok || !isAgentInput(r.event)) throw new Error(`parked event ${p.event_id} no longer parses: ${r.ok ? r.event.type : r.reason}`)
  return r.event
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
  /** Parked in this batch and not released in it: rows to insert. */
  private readonly parked = new Map<string, AgentInput>()
  /** Parked rows of earlier batches that a registration released. */
  private readonly unparked: string[] = []

  constructor(private readonly parkedBefore: ReadonlyMap<string, AgentInput>) {}

  collect(s: AgentState, e: AgentInput, outcome: Outcome): void {
    if (isParked(outcome)) this.parked.set(e.eventId, e)
    if (outcome.rejection !== undefined || isParked(outcome)) return
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

  /** The inputs a registration released, in its order; they leave the parking table. */
  release(ids: readonly string[]): AgentInput[] {
    const out: AgentInput[] = []
    for (const id of ids) {
      const e = this.parked.get(id) ?? this.parkedBefore.get(id)
      if (!e) throw new Error(`released input ${id} is not parked`)
      if (!this.parked.delete(id)) this.unparked.push(id)
      out.push(e)
    }
    return out
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
        success: x.success ? 1 : 0, error_message: x.error, clock_skew_ms: x.clockSkewMs,
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

  /** Queues the agent row (registered agents only) and the replicas that differ from what was loaded. */
  changed(before: AgentState, after: AgentState): void {
    if (!after.registered) return
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
    await insertParked(trx, [...this.parked.values()].map((e) => ({
      event_id: e.eventId, agent_id: e.agentId, client_id: e.clientId, type: e.type,
      occurred_at: toDbTime(e.occurredAt), payload: JSON.stringify(e),
    })))
    await deleteParked(trx, this.unparked)
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
