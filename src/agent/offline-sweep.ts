/**
 * Silent agents: an agent whose last input was received more than
 * `offlineSeconds` ago is marked offline by a decision in the log
 * (`decision.agent_offline`), caused by the timer, not by an input; its
 * cause is the agent's last input, and a replay applies it where it stands in
 * the log (in the agent's own history, right after that input).
 * The agent is back online with its next heartbeat (agent.state.ts).
 *
 * One sweep is one transaction that takes the agents' locks (the same
 * agent_locks rows the consumer and HTTP take, in id order) and checks again
 * under them, so a sweep never marks an agent whose input is being applied,
 * and two sweeps at once (two instances) mark an agent once: the second
 * waits for the first's locks, then sees the agent offline.
 */
import type { Kysely, Transaction } from 'kysely'
import { randomUUID } from 'node:crypto'
import type { Database } from '../db/database.js'
import { fromDbTime, toDbTime } from '../db/time.js'
import { type AgentOfflineDecision, AgentOfflineSchema } from '../log/decisions.js'
import { appendProduced } from '../log/event-log.js'
import { bumpReadVersions, scopesOf } from '../log/read-versions.js'
import { passGate } from '../log/gate.js'
import { type AnyProjection, applyProjections } from '../log/projection.js'
import { lockAgents } from './agent.repository.js'

export interface SweepOptions {
  offlineSeconds: number
  /** The projections that may handle the decision (src/wiring.ts). */
  projections: readonly AnyProjection[]
  now?: () => Date
  /** Most agents marked per transaction. */
  limit?: number
}

interface Silent { id: string, clientId: string, causeEventId: string, lastSeenAt: string }

/** Agents not offline whose newest log row (an input or what it caused) was recorded before `cutoff`. */
async function silentAgents(db: Kysely<Database> | Transaction<Database>, cutoff: string, limit: number, ids?: readonly string[]): Promise<Silent[]> {
  let q = db.selectFrom('agents as a')
    .innerJoin('event_log as l', (j) => j.onRef('l.agent_id', '=', 'a.id'))
    // The agent's newest row, through idx_event_log_agent (agent_id, seq): one index probe per agent.
    .whereRef('l.seq', '=', (eb) => eb.selectFrom('event_log as x').select((x) => x.fn.max('x.seq').as('m')).whereRef('x.agent_id', '=', 'a.id'))
    .where('a.status', '<>', 'offline')
    .where('l.recorded_at', '<', cutoff)
    .select(['a.id', 'a.client_id', 'l.event_id', 'l.source', 'l.cause_event_id', 'l.recorded_at'])
    .orderBy('a.id').limit(limit)
  if (ids) q = q.where('a.id', 'in', ids)
  const rows = await q.execute()
  return rows.flatMap((r) => {
    // An input is its own cause; a decision or command names the input it followed.
    const cause = r.source === 'decision' ? r.cause_event_id : r.event_id
    return cause === null ? [] : [{ id: r.id, clientId: r.client_id, causeEventId: cause, lastSeenAt: fromDbTime(r.recorded_at).toISOString() }]
  })
}

/** One sweep; returns the decisions appended (empty when nobody went silent). */
export async function sweepOffline(db: Kysely<Database>, o: SweepOptions): Promise<AgentOfflineDecision[]> {
  const now = (o.now ?? (() => new Date()))()
  const cutoff = toDbTime(new Date(now.getTime() - o.offlineSeconds * 1000))
  const limit = o.limit ?? 1000
  const candidates = await silentAgents(db, cutoff, limit)
  if (candidates.length === 0) return []
  // READ COMMITTED, as the doors: the check after the locks sees what their previous holders committed.
  return db.transaction().setIsolationLevel('read committed').execute(async (trx) => {
    await passGate(trx)
    await lockAgents(trx, candidates.map((c) => c.id))
    const still = await silentAgents(trx, cutoff, limit, candidates.map((c) => c.id))
    if (still.length === 0) return []
    const sweptAt = now.toISOString()
    const decisions = still.map((a) => AgentOfflineSchema.parse({
      eventId: randomUUID(), type: 'decision.agent_offline', version: 1, occurredAt: sweptAt, clientId: a.clientId, agentId: a.id,
      causeEventId: a.causeEventId, data: { lastSeenAt: a.lastSeenAt, sweptAt, offlineSeconds: o.offlineSeconds },
    }))
    await trx.updateTable('agents').set({ status: 'offline' }).where('id', 'in', still.map((a) => a.id)).execute()
    await applyProjections(trx, o.projections, decisions)
    await appendProduced(trx, decisions.map((d) => ({ event: d, cause: d.causeEventId })))
    await bumpReadVersions(trx, scopesOf(decisions))
    return decisions
  })
}

/** Sweeps every `everyMs` until stopped; failures are logged and the next sweep tries again. */
export function startOfflineSweeper(db: Kysely<Database>, o: SweepOptions & { everyMs: number, log: (err: unknown) => void, onMarked?: (n: number) => void }): { stop(): Promise<void> } {
  let running = true
  let timer: NodeJS.Timeout | undefined
  let current: Promise<void> = Promise.resolve()
  const tick = () => {
    current = (async () => {
      try {
        for (;;) {
          const marked = await sweepOffline(db, o)
          if (marked.length > 0) o.onMarked?.(marked.length)
          if (marked.length < (o.limit ?? 1000) || !running) break
        }
      } catch (err) {
        o.log(err)
      }
      if (running) timer = setTimeout(tick, o.everyMs)
    })()
  }
  timer = setTimeout(tick, o.everyMs)
  return {
    async stop() {
      running = false
      clearTimeout(timer)
      await current
    },
  }
}

/** Agents offline now, per client (the /metrics gauge). */
export async function offlineByClient(db: Kysely<Database>): Promise<Map<string, number>> {
  const rows = await db.selectFrom('agents').select(['client_id', (eb) => eb.fn.countAll<number>().as('n')])
    .where('status', '=', 'offline').groupBy('client_id').execute()
  return new Map(rows.map((r) => [r.client_id, Number(r.n)]))
}
