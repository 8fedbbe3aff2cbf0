// Property test for issue 8 §1 (DESIGN §1): random per-agent histories split
// over the three agent topics (TOPIC_OF) and delivered in random cross-topic
// interleavings that keep each topic's order. Whatever the interleaving:
// every distinct termination notice is answered exactly once (one failover or
// one emergency snapshot), none is dead-lettered, at most one replica is live
// per agent, and manual and automatic mode are never both on.
//
// Run twice: through the pure decide/evolve fold (many runs, fast; a replay
// of the resulting log must equal the live state), and through the real
// applyBatch against MariaDB (fewer runs, one database shared by fresh ids).
// fast-check is seeded (PROPERTY_SEED) and bounded by numRuns; the seed is
// printed at the start and in the failure message.
import fc from 'fast-check'
import { sql, type Kysely } from 'kysely'
import t from 'tap'
import type { AgentEvent, AgentInput, DecisionEvent } from '../../src/agent/agent.events.js'
import {
  type AgentState, type RuleEnv, applyOutcome, decide, initialAgentState, isLive, releasedBy, replay,
} from '../../src/agent/agent.rules.js'
import type { CommandEvent } from '../../src/log/decider.js'
import { pipeline } from '../../src/wiring.js'
import type { Database } from '../../src/db/database.js'
import { applyBatch } from '../../src/log/apply-batch.js'
import { freshDatabase } from '../helper-db.js'
import { type History, POOLS, historyArb, interleave, materialise, noticeKey } from './fixtures/histories.js'
import { propertySeed } from './fixtures/random.js'

const seed = propertySeed()
const SEED_NOTE = `PROPERTY_SEED=${seed}`
const PURE_RUNS = Number(process.env.PROPERTY_RUNS ?? 300)
const DB_RUNS = Number(process.env.PROPERTY_DB_RUNS ?? 15)
const NOW = new Date('2026-11-24T18:00:00.000Z')
const START = NOW.getTime() - 3_600_000
// 'ignore': a rebalance never requests a replica the (non-adaptive) history could not report on.
const OPTIONS = { rebalancePolicy: 'ignore' as const, recentInterruptionMinutes: 10, clock: () => NOW }

function env(ids: () => string): RuleEnv {
  return {
    now: NOW, newId: ids, rebalancePolicy: OPTIONS.rebalancePolicy, recentInterruptionMinutes: OPTIONS.recentInterruptionMinutes,
    choosePool: (q) => POOLS.find((p) => !q.exclude.includes(p)) ?? null,
  }
}

const bothModes = (s: AgentState) => s.manualReplicaEnabled && s.autoSwitchEnabled
const liveCount = (s: AgentState) => Object.values(s.replicas).filter((r) => isLive(r)).length

/** The shell's fold without a database: per agent, parked inputs released by the registration; the log as event_log holds it. */
function foldPure(h: History): string | null {
  const m = materialise(h, START)
  let n = 0
  const e = env(() => `00000000-0000-4000-8000-${String(++n).padStart(12, '0')}`)
  const states = new Map(m.agentIds.map((id) => [id, initialAgentState(id, m.clientId)]))
  const parked = new Map<string, AgentInput>()
  const logs = new Map<string, AgentEvent[]>(m.agentIds.map((id) => [id, []]))
  const answers = new Map<string, { decisions: DecisionEvent[], commands: CommandEvent[] }[]>()
  for (const batch of interleave(m, h.delivery)) {
    const decided: DecisionEvent[] = []
    for (const input of batch.events) logs.get(input.agentId)!.push(input)
    const queue = [...batch.events]
    for (let input = queue.shift(); input; input = queue.shift()) {
      const before = states.get(input.agentId)!
      const out = decide(input, before, e)
      if (input.type === 'spot.termination_notice') {
        if (out.rejection !== undefined) return `notice ${input.eventId} rejected: ${out.rejection}`
        const key = noticeKey(input.agentId, input.data.instanceId, input.data.terminationTime)
        if (out.decisions.some((d) => d.type === 'decision.signal_recorded')) answers.set(key, [...answers.get(key) ?? [], { decisions: out.decisions, commands: out.commands }])
      }
      if (out.decisions.some((d) => d.type === 'decision.input_parked')) parked.set(input.eventId, input)
      const after = applyOutcome(before, input, out)
      states.set(input.agentId, after)
      decided.push(...out.decisions)
      queue.unshift(...releasedBy(out).map((id) => parked.get(id)!))
      if (liveCount(after) > 1) return `agent ${input.agentId}: ${liveCount(after)} live replicas after ${input.type}`
      if (bothModes(after)) return `agent ${input.agentId}: manual and automatic both on after ${input.type}`
    }
    for (const d of decided) logs.get(d.agentId)!.push(d)
  }
  for (const key of m.notices) {
    const a = answers.get(key) ?? []
    if (a.length !== 1) return `notice ${key} answered ${a.length} times`
    const cmds = a[0]!.commands.map((c) => c.type).filter((c) => c === 'command.promote_replica' || c === 'command.emergency_snapshot')
    if (cmds.length !== 1) return `notice ${key}: commands ${JSON.stringify(cmds)}`
  }
  for (const [id, s] of states) {
    if (!s.registered) return `agent ${id} never registered`
    const replayed = replay(initialAgentState(id, m.clientId), logs.get(id)!)
    if (JSON.stringify(replayed) !== JSON.stringify(s)) return `agent ${id}: replay differs from the live fold`
  }
  return null
}

t.test(`pure fold: any cross-topic interleaving keeps the notice and replica invariants (${SEED_NOTE})`, async (t) => {
  t.comment(SEED_NOTE)
  const result = fc.check(fc.property(historyArb(3, 25), (h) => foldPure(h) === null), { seed, numRuns: PURE_RUNS })
  // The smallest failing history, and why.
  const failure = result.counterexample ? foldPure(result.counterexample[0]) : null
  t.notOk(result.failed, `${failure ?? ''} (${SEED_NOTE}, path ${result.counterexamplePath ?? '-'})`)
  if (result.counterexample) t.comment(JSON.stringify(result.counterexample[0].agents))
  t.equal(result.numRuns, PURE_RUNS, 'every run checked')
})

type Row = Record<string, any>
async function rows(db: Kysely<Database>, query: string): Promise<Row[]> {
  return (await sql.raw<Row>(query).execute(db)).rows
}

/** The same histories through applyBatch on MariaDB; topics named per run, so checkpoints never collide. */
async function runDb(db: Kysely<Database>, h: History, run: number): Promise<string | null> {
  const handlers = pipeline(OPTIONS)
  const m = materialise(h, START)
  const offsets = new Map<string, number>()
  for (const batch of interleave(m, h.delivery)) {
    const topic = `${batch.topic}-${run}`
    const first = offsets.get(topic) ?? 0
    offsets.set(topic, first + batch.events.length)
    await applyBatch(db, {
      topic, partition: 0,
      messages: batch.events.map((e, i) => ({ offset: String(first + i), key: Buffer.from(e.agentId), value: Buffer.from(JSON.stringify(e)) })),
    }, handlers)
    const [both] = await rows(db, `SELECT COUNT(*) AS n FROM agents WHERE client_id = '${m.clientId}' AND manual_replica_enabled = 1 AND auto_switch_enabled = 1`)
    if (Number(both!.n) > 0) return `manual and automatic both on after a ${batch.topic} batch`
  }
  const ids = m.agentIds.map((a) => `'${a}'`).join(',')
  const dead = await rows(db, `SELECT d.event_id, d.reason FROM dead_letter_events d WHERE d.event_type = 'spot.termination_notice' AND d.topic LIKE '%-${run}'`)
  if (dead.length > 0) return `notice dead-lettered: ${dead[0]!.reason}`
  const live = await rows(db, `SELECT agent_id, COUNT(*) AS n FROM replica_instances WHERE agent_id IN (${ids}) AND status IN ('launching','syncing','ready') GROUP BY agent_id HAVING n > 1`)
  if (live.length > 0) return `agent ${live[0]!.agent_id}: ${live[0]!.n} live replicas`
  const agents = await rows(db, `SELECT id FROM agents WHERE id IN (${ids})`)
  if (agents.length !== m.agentIds.length) return `${agents.length} of ${m.agentIds.length} agents registered`
  const signals = await rows(db, `SELECT s.agent_id, s.instance_id, s.termination_time, s.event_id,
      (SELECT COUNT(*) FROM outbox o WHERE o.cause_event_id = s.event_id AND o.type IN ('command.promote_replica', 'command.emergency_snapshot')) AS answers
    FROM spot_interruption_events s WHERE s.agent_id IN (${ids}) AND s.signal_type = 'termination-notice'`)
  const byKey = new Map<string, Row[]>()
  for (const s of signals) {
    const key = noticeKey(s.agent_id, s.instance_id, new Date(s.termination_time + 'Z').toISOString())
    byKey.set(key, [...byKey.get(key) ?? [], s])
  }
  for (const key of m.notices) {
    const recorded = byKey.get(key) ?? []
    if (recorded.length !== 1) return `notice ${key} recorded ${recorded.length} times`
    if (Number(recorded[0]!.answers) !== 1) return `notice ${key} answered by ${recorded[0]!.answers} commands`
  }
  if (byKey.size !== m.notices.size) return `${byKey.size} notices recorded, ${m.notices.size} distinct sent`
  return null
}

t.test(`MariaDB through applyBatch: the same invariants (${SEED_NOTE})`, async (t) => {
  t.comment(SEED_NOTE)
  const { db } = await freshDatabase(t, { migrate: true })
  let run = 0
  const started = Date.now()
  const result = await fc.check(fc.asyncProperty(historyArb(3, 20), async (h) => (await runDb(db, h, ++run)) === null), { seed, numRuns: DB_RUNS })
  const failure = result.counterexample ? await runDb(db, result.counterexample[0], ++run) : null
  t.notOk(result.failed, `${failure ?? ''} (${SEED_NOTE}, path ${result.counterexamplePath ?? '-'})`)
  if (result.counterexample) t.comment(JSON.stringify(result.counterexample[0].agents))
  const [stats] = await rows(db, `SELECT (SELECT COUNT(*) FROM spot_interruption_events WHERE response_action = 'failover') AS failovers,
    (SELECT COUNT(*) FROM spot_interruption_events WHERE response_action = 'emergency-snapshot') AS snapshots,
    (SELECT COUNT(*) FROM event_log WHERE type = 'decision.input_parked') AS parked,
    (SELECT COUNT(*) FROM dead_letter_events) AS dead`)
  t.comment(`${run} runs in ${Date.now() - started} ms: ${stats!.failovers} failovers, ${stats!.snapshots} emergency snapshots, ${stats!.parked} parked inputs, ${stats!.dead} other dead letters`)
})
