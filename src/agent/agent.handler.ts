/**
 * The transactional shell around the agent rules: the agent decider. For one
 * batch it locks the batch's agents once (agent_locks, registered or not),
 * loads their live replicas, the replicas the events name, their recent
 * signals and, where a registration arrives, their parked inputs; folds
 * decide/evolve in memory per agent in event order (a registration's released
 * inputs right after it), writes agents, replicas and parking rows back with
 * one statement per table, and returns each input's decisions, commands,
 * rejection, hold or releases as values. The rows the decisions imply
 * elsewhere (interruptions, switches) are projections (src/projections/).
 *
 * HTTP commands go through the same code (src/log/core.ts submitInput).
 */
import { randomUUID } from 'node:crypto'
import { isDeepStrictEqual } from 'node:util'
import type { Transaction } from 'kysely'
import type { AgentParkedEventRow, AgentRow, Database } from '../db/database.js'
import { isoFromDb, toDbTime } from '../db/time.js'
import { parseEventObject } from '../events/parse.js'
import { type SpotEvent, parsePoolId } from '../events/schemas.js'
import type { Decider, Verdict } from '../log/decider.js'
import {
  AGENT_WIRE_TYPES, type AgentInput, type AgentInputType, type AgentWireEvent, USER_REQUEST_TYPES, UserRequestSchema,
} from './agent.events.js'
import {
  type AgentState, type PoolQuery, type RebalancePolicy, type ReplicaState, type RuleEnv, applyOutcome, decide,
  initialAgentState, isParked, refuse, rejection, releasedBy,
} from './agent.rules.js'
import {
  type PoolCandidate, type ReplicaWrite, agentFromRow, deleteParked, insertParked, loadParked,
  type AgentWrite, loadPoolCandidates, loadRecentSignals, loadReplicas, lockAgents, replicaFromRow, saveAgents, saveReplicas,
} from './agent.repository.js'

export interface AgentHandlerOptions {
  rebalancePolicy: RebalancePolicy
  recentInterruptionMinutes: number
  clock?: () => Date
  newId?: () => string
}

export const AGENT_HANDLED_TYPES: readonly AgentInputType[] = [...AGENT_WIRE_TYPES, ...USER_REQUEST_TYPES]

export function agentDecider(opts: AgentHandlerOptions): Decider<AgentInputType> {
  return {
    name: 'agent-rules',
    handles: AGENT_HANDLED_TYPES,
    decide: (trx, inputs) => applyAgentEvents(trx, inputs, opts),
    lock: async (trx, inputs) => { await lockBatchAgents(trx, [...new Set(inputs.map((e) => e.agentId))]) },
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

export async function applyAgentEvents(trx: Transaction<Database>, events: readonly AgentInput[], opts: AgentHandlerOptions): Promise<Map<string, Verdict>> {
  const verdicts = new Map<string, Verdict>()
  if (events.length === 0) return verdicts
  const byAgent = groupByAgent(events)
  const { states, owner, choosePool, parkedBodies } = await loadBatchState(trx, byAgent)

  const out = new Writes(parkedBodies)
  for (const before of states) {
    let state = before
    const step = (e: AgentInput): Verdict => {
      const env = ruleEnv(opts, choosePool)
      const named = replicaIdOf(e)
      const outcome = named !== null && owner.has(named) && owner.get(named) !== state.agentId
        ? rejection(e, refuse('foreign_replica', `replica ${named} belongs to another agent`), env)
        : decide(e, state, env)
      if (isParked(outcome)) out.park(e)
      state = applyOutcome(state, e, outcome)
      // A registration releases the agent's parked inputs: applied right after it, in the same transaction.
      const released = out.release(releasedBy(outcome)).map((p) => ({ event: p, verdict: step(p) }))
      return { ...outcome, held: isParked(outcome), released }
    }
    for (const e of byAgent.get(state.agentId) ?? []) verdicts.set(e.eventId, step(e))
    out.changed(before, state)
  }
  await out.flush(trx)
  return verdicts
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
 * wrong order); decide then uses what the hook read instead of locking again.
 * A read is used once: a second decide in the same transaction reads the rows
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

/** Inputs whose rules may place a replica (requestReplica: the pool ranking and the recent signals' pools). */
const PLACES_REPLICA = new Set<string>(['spot.rebalance_recommendation', 'agent.config_changed', 'user.replica_create_requested'] satisfies AgentInputType[])
/** Inputs whose rules read the agent's recent signals: those, and a termination notice (is it a repeat?). */
const READS_SIGNALS = new Set<string>([...PLACES_REPLICA, 'spot.termination_notice'])

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
  // Recent signals only where a rule reads them (an agent of heartbeats alone needs none, unless its manual replica is pending).
  const pending = new Set(registered.filter((id) => rows.get(id)?.manual_replica_pending === 1))
  const signals = await loadRecentSignals(trx, registered.filter((id) => pending.has(id) || byAgent.get(id)!.some((e) => READS_SIGNALS.has(e.type))))
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
    // The pool ranking only when a rule may place a replica (released parked inputs included).
    choosePool: pending.size > 0 || events.some((e) => PLACES_REPLICA.has(e.type)) || parkedRows.some((p) => PLACES_REPLICA.has(p.type))
      ? poolChooser(await loadPoolCandidates(trx, instanceTypes(states, events))) : poolChooser([]),
  }
}

const isAgentWireEvent = (e: SpotEvent): e is AgentWireEvent => (AGENT_WIRE_TYPES as readonly string[]).includes(e.type)

/** A parked row back to the input it was: it passed the wire schema (or the user-request schema) when it arrived. */
function parkedInput(p: AgentParkedEventRow): AgentInput {
  const json: unknown = JSON.parse(p.payload)
  const user = UserRequestSchema.safeParse(json)
  if (user.success) return user.data
  const r = parseEventObject(json)
  if (!r.ok || !isAgentWireEvent(r.event)) throw new Error(`parked event ${p.event_id} is no longer an agent input: ${r.ok ? r.event.type : r.reason}`)
  return r.event
}

function ruleEnv(opts: AgentHandlerOptions, choosePool: RuleEnv['choosePool']): RuleEnv {
  return {
    now: opts.clock?.() ?? new Date(), newId: opts.newId ?? randomUUID, rebalancePolicy: opts.rebalancePolicy,
    recentInterruptionMinutes: opts.recentInterruptionMinutes, choosePool,
  }
}

/** Row changes gathered while folding, written once per batch. */
class Writes {
  private readonly agents: AgentWrite[] = []
  private readonly replicas: ReplicaWrite[] = []
  /** Parked in this batch and not released in it: rows to insert. */
  private readonly parked = new Map<string, AgentInput>()
  /** Parked rows of earlier batches that a registration released. */
  private readonly unparked: string[] = []

  constructor(private readonly parkedBefore: ReadonlyMap<string, AgentInput>) {}

  park(e: AgentInput): void { this.parked.set(e.eventId, e) }

  /** The inputs a registration released, in its order; they leave the parking table. */
  release(ids: readonly string[]): AgentInput[] {
    return ids.map((id) => {
      const e = this.parked.get(id) ?? this.parkedBefore.get(id)
      if (!e) throw new Error(`released input ${id} is not parked`)
      if (!this.parked.delete(id)) this.unparked.push(id)
      return e
    })
  }

  /** Queues the agent row (registered agents only) and the replicas that differ from what was loaded. */
  changed(before: AgentState, after: AgentState): void {
    if (!after.registered) return
    const { replicas: rb, ...ab } = before
    const { replicas: ra, ...aa } = after
    // isDeepStrictEqual, not two JSON texts: 2.3x faster on agent states (it counted 5 % of serve's CPU in a backlog run).
    // A registered agent's row was read under this transaction's lock: it exists.
    if (!isDeepStrictEqual(ab, aa)) this.agents.push({ state: after, loaded: before.registered ? before : undefined })
    for (const r of Object.values(ra)) {
      if (!isDeepStrictEqual(rb[r.id], r)) this.replicas.push({ agentId: after.agentId, clientId: after.clientId, replica: r })
    }
  }

  async flush(trx: Transaction<Database>): Promise<void> {
    await saveAgents(trx, this.agents)
    await saveReplicas(trx, this.replicas)
    await insertParked(trx, [...this.parked.values()].map((e) => ({
      event_id: e.eventId, agent_id: e.agentId, client_id: e.clientId, type: e.type,
      occurred_at: toDbTime(e.occurredAt), payload: JSON.stringify(e),
    })))
    await deleteParked(trx, this.unparked)
  }
}
