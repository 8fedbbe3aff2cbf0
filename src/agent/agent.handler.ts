/**
 * The transactional shell around the agent rules: the agent decider. For one
 * batch it locks the batch's agents with one SELECT ... FOR UPDATE, loads
 * their live replicas, the replicas the events name and their recent signals,
 * folds decide/evolve in memory per agent in event order, writes agents and
 * replicas back with one statement per table, and returns each input's
 * decisions, commands or rejection as values. The rows the decisions imply
 * elsewhere (interruptions, switches) are projections (src/projections/).
 *
 * HTTP commands go through the same code (src/log/core.ts submitInput).
 */
import { randomUUID } from 'node:crypto'
import type { Transaction } from 'kysely'
import type { Database } from '../db/database.js'
import { parsePoolId } from '../events/schemas.js'
import type { Decider, Verdict } from '../log/decider.js'
import { AGENT_WIRE_TYPES, type AgentInput, type AgentInputType, USER_REQUEST_TYPES } from './agent.events.js'
import {
  type AgentState, type Outcome, type PoolQuery, type RebalancePolicy, type ReplicaState, type RuleEnv, applyOutcome, decide, rejection,
} from './agent.rules.js'
import {
  type PoolCandidate, type ReplicaWrite, agentFromRow, ensureAgents,
  loadPoolCandidates, loadRecentSignals, loadReplicas, lockAgents, replicaFromRow, saveAgents, saveReplicas,
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
    lock: async (trx, inputs) => { await lockBatchAgents(trx, groupByAgent(inputs)) },
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
      verdicts.set(e.eventId, outcome)
      state = applyOutcome(state, e, outcome)
    }
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

/** Row changes gathered while folding, written once per batch. */
class Writes {
  private readonly agents: AgentState[] = []
  private readonly replicas: ReplicaWrite[] = []

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
  }
}
