// Concurrency property test on real MariaDB: a seeded generator builds a
// random history for a fleet of agents of one client (registrations, pool
// prices, config toggles, replica lifecycle reports, rebalance and
// termination signals, reports about unknown or foreign replicas), with
// duplicates, swaps and late events. It is delivered from several
// connections at once: three consumer workers calling applyBatch on their own
// partitions, a pricing worker, and an HTTP worker calling submitAgentEvent
// for the same agents, each with its own pool, so they contend on row locks.
// Transient errors (deadlock, lock wait) are retried. Afterwards the DESIGN §3
// invariants must hold, and a replay of event_log, written into an empty
// migrated database, must give the same agents and replicas.
//
// PROPERTY_SEED=<n> generates the same choices again (the interleaving of the
// workers, and so the service's decisions, are up to the scheduler).
import { sql, type Kysely } from 'kysely'
import t from 'tap'
import { isAgentEventType, type AgentEvent, type AgentInput } from '../../src/agent/agent.events.js'
import { LOG_EVENT_COLUMNS, type LogEventRow, type StoredEvent, storedEventOfRow } from '../../src/log/stored-event.js'
import { submitInput } from '../../src/log/core.js'
import { agentFromRow, loadRecentSignals, replicaFromRow, saveAgents, saveReplicas, type ReplicaWrite } from '../../src/agent/agent.repository.js'
import { initialAgentState, replay, type AgentState } from '../../src/agent/agent.state.js'
import { createDb } from '../../src/db/connect.js'
import type { Database } from '../../src/db/database.js'
import { applyBatch, type RawMessage } from '../../src/log/apply-batch.js'
import { pipeline } from '../../src/wiring.js'
import { backoffDelay, isTransient, sleep } from '../../src/ingest/retry.js'
import { freshDatabase } from '../helper-db.js'
import { CLIENT, user, wire } from './fixtures/events.js'
import { propertySeed, seededRng, type Rng } from './fixtures/random.js'

const AGENTS = 12
const PARTITIONS = 3
const ROUNDS = Number(process.env.PROPERTY_ROUNDS ?? 30)
const AZS = ['us-east-1a', 'us-east-1b', 'us-east-1c', 'us-east-1d']
const POOLS = AZS.map((az) => `m5.large.${az}`)
const AGENT_TOPIC = 'agent-stream'
const PRICING_TOPIC = 'pricing-snapshots'

const seed = propertySeed()
const SEED_NOTE = `PROPERTY_SEED=${seed}`
const handlers = pipeline()

type Row = Record<string, any>
async function rows(db: Kysely<Database>, query: string): Promise<Row[]> {
  return (await sql.raw<Row>(query).execute(db)).rows
}

const stats = { retries: 0, batches: 0, redeliveries: 0, http: 0, httpDuplicates: 0, messages: 0 }

async function withRetry<T>(f: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await f()
    } catch (err) {
      if (!isTransient(err) || attempt >= 30) throw err
      stats.retries++
      await sleep(backoffDelay(attempt, { initialMs: 5, maxMs: 200 }))
    }
  }
}

/** What the generator reads back between rounds: the service's view of each agent. */
interface Observed {
  agent: Row | undefined
  live: Row | undefined
  ended: Row[]
  oldInstances: string[]
}

class History {
  private clock: number
  private readonly lateAgent = new Map<string, AgentInput[]>()
  private readonly lateHttp: AgentInput[] = []
  readonly partitionOf = new Map<string, number>()
  readonly agents: string[]

  constructor(readonly rng: Rng) {
    // Events happened in the past, so decide() never sees a negative response time.
    this.clock = Date.now() - 3 * 3600_000
    this.agents = Array.from({ length: AGENTS }, () => rng.uuid())
    this.agents.forEach((a, i) => this.partitionOf.set(a, i % PARTITIONS))
  }

  private at(): string {
    this.clock += 1000
    return new Date(this.clock).toISOString()
  }

  private opts(agentId: string) {
    return { agentId, clientId: CLIENT, eventId: this.rng.uuid(), at: this.at() }
  }

  snapshots(): AgentInput[] {
    return POOLS.map((pool) => wire('pricing.snapshot', {
      poolId: pool, instanceType: 'm5.large', region: 'us-east-1', az: pool.slice('m5.large.'.length),
      spotPrice: (0.02 + this.rng.int(0, 200) / 10_000).toFixed(4), onDemandPrice: '0.096',
      observedAt: new Date(this.clock).toISOString(), sourceType: 'agent',
    }, { ...this.opts(this.rng.pick(this.agents)) })) as unknown as AgentInput[]
  }

  registrations(): Map<string, AgentInput[]> {
    return new Map(this.agents.map((a, i) => [a, [wire('agent.registered', {
      logicalAgentId: `web-${i}`, instanceId: `i-${i}-0`, instanceType: 'm5.large', region: 'us-east-1',
      az: this.rng.pick(AZS), mode: 'spot', hostname: `ip-10-0-0-${i}`, spotPrice: '0.03', onDemandPrice: '0.096',
    }, this.opts(a))]]))
  }

  /** One round of agent-side reports and signals per agent, from what the service did so far. */
  agentRound(observed: ReadonlyMap<string, Observed>): Map<string, AgentInput[]> {
    const out = new Map<string, AgentInput[]>()
    const allReplicas = [...observed.values()].flatMap((o) => [...(o.live ? [o.live] : []), ...o.ended])
    for (const agentId of this.agents) {
      const o = observed.get(agentId)!
      const r = this.rng
      const evs: AgentInput[] = [...this.lateAgent.get(agentId) ?? []]
      this.lateAgent.delete(agentId)
      const instanceId: string | null = o.agent?.instance_id ?? null
      const poolId: string | null = o.agent?.current_pool_id ?? null
      const live = o.live
      if (live) {
        const id: string = live.id
        if (live.status === 'launching' && live.instance_id === null) {
          evs.push(wire('replica.launched', {
            replicaId: id, instanceId: `i-r-${r.uuid().slice(0, 8)}`, poolId: live.pool_id, replicaType: live.replica_type, hourlyCost: '0.031',
          }, this.opts(agentId)))
        } else if (live.status !== 'ready') {
          if (r.chance(0.5)) {
            evs.push(wire('replica.sync_progress', {
              replicaId: id, syncStatus: 'syncing', syncLatencyMs: r.int(10, 500), stateTransferProgress: r.int(1, 99),
            }, this.opts(agentId)))
          }
          if (r.chance(0.7)) evs.push(wire('replica.ready', { replicaId: id }, this.opts(agentId)))
        }
        if (r.chance(0.07)) evs.push(wire('replica.failed', { replicaId: id, error: 'boot failure' }, this.opts(agentId)))
        else if (r.chance(0.07)) evs.push(wire('replica.terminated', { replicaId: id, reason: 'agent-stopped' }, this.opts(agentId)))
      }
      // Reports about a replica that has ended (a late ready after terminated, say): rejected.
      if (o.ended.length > 0 && r.chance(0.15)) {
        const old = r.pick(o.ended)
        evs.push(r.chance(0.5)
          ? wire('replica.ready', { replicaId: old.id }, this.opts(agentId))
          : wire('replica.terminated', { replicaId: old.id, reason: 'late' }, this.opts(agentId)))
      }
      // A replica nobody requested: adopted when nothing is live, rejected otherwise.
      if (r.chance(0.06)) {
        evs.push(wire('replica.launched', {
          replicaId: r.uuid(), instanceId: `i-u-${r.uuid().slice(0, 8)}`, poolId: r.pick(POOLS), replicaType: 'manual', hourlyCost: '0.05',
        }, this.opts(agentId)))
      }
      // Another agent's replica: rejected.
      const foreign = allReplicas.filter((x) => x.agent_id !== agentId)
      if (foreign.length > 0 && r.chance(0.05)) evs.push(wire('replica.ready', { replicaId: r.pick(foreign).id }, this.opts(agentId)))
      if (instanceId !== null && poolId !== null) {
        if (r.chance(0.3)) evs.push(wire('spot.rebalance_recommendation', { instanceId, poolId }, this.opts(agentId)))
        if (r.chance(0.22)) {
          evs.push(wire('spot.termination_notice', {
            instanceId, poolId, terminationTime: new Date(this.clock + 120_000).toISOString(),
          }, this.opts(agentId)))
        }
      }
      // A signal for an instance the agent has left: rejected.
      if (o.oldInstances.length > 0 && r.chance(0.08)) {
        evs.push(wire('spot.termination_notice', {
          instanceId: r.pick(o.oldInstances), poolId: r.pick(POOLS), terminationTime: new Date(this.clock + 120_000).toISOString(),
        }, this.opts(agentId)))
      }
      out.set(agentId, this.disorder(agentId, evs))
    }
    return out
  }

  /** Duplicates (the same event again, later), swapped neighbours, and events held back to the next round. */
  private disorder(agentId: string, evs: AgentInput[]): AgentInput[] {
    const r = this.rng
    const out = [...evs]
    for (const e of evs) if (r.chance(0.15)) out.splice(r.int(out.indexOf(e) + 1, out.length), 0, e)
    for (let i = 0; i + 1 < out.length; i++) {
      if (r.chance(0.15)) {
        const tmp = out[i]!
        out[i] = out[i + 1]!
        out[i + 1] = tmp
      }
    }
    const kept: AgentInput[] = []
    for (const e of out) {
      if (r.chance(0.07)) this.lateAgent.set(agentId, [...this.lateAgent.get(agentId) ?? [], e])
      else kept.push(e)
    }
    return kept
  }

  /** Config toggles and user replica requests, as the HTTP routes would submit them. */
  httpRound(observed: ReadonlyMap<string, Observed>): AgentInput[] {
    const r = this.rng
    const out: AgentInput[] = [...this.lateHttp.splice(0)]
    for (const agentId of this.agents) {
      const o = observed.get(agentId)!
      if (r.chance(0.4)) {
        const which = r.int(0, 4)
        const data = which === 0 ? { manualReplicaEnabled: true }
          : which === 1 ? { autoSwitchEnabled: true }
          : which === 2 ? { manualReplicaEnabled: false }
          : which === 3 ? { autoSwitchEnabled: false, manualReplicaEnabled: true }
          : { autoSwitchEnabled: true, manualReplicaEnabled: false }
        out.push(wire('agent.config_changed', data, this.opts(agentId)))
      }
      if (r.chance(0.08)) out.push(user('user.replica_create_requested', { replicaId: r.uuid() }, this.opts(agentId)))
      if (o.live && r.chance(0.06)) out.push(user('user.replica_delete_requested', { replicaId: o.live.id }, this.opts(agentId)))
      if (o.live && r.chance(0.04)) out.push(user('user.replica_promote_requested', { replicaId: o.live.id }, this.opts(agentId)))
    }
    const shuffled = r.shuffle(out)
    const result: AgentInput[] = []
    for (const e of shuffled) {
      result.push(e)
      if (r.chance(0.12)) this.lateHttp.push(e) // submitted again next round: a duplicate
      if (r.chance(0.08)) result.push(e) // or right away
    }
    return result
  }
}

/** One partition's messages at increasing offsets; each agent's events stay in its order. */
class Partition {
  private next = 0
  constructor(readonly topic: string, readonly partition: number) {}
  messages(events: readonly AgentInput[]): RawMessage[] {
    return events.map((e) => ({ offset: String(this.next++), key: Buffer.from(e.agentId), value: Buffer.from(JSON.stringify(e)) }))
  }
  get lastOffset(): number { return this.next - 1 }
}

/** Interleaves the agents' lists at random, keeping each list's order. */
function interleave(rng: Rng, lists: AgentInput[][]): AgentInput[] {
  const queues = lists.map((l) => [...l]).filter((l) => l.length > 0)
  const out: AgentInput[] = []
  while (queues.length > 0) {
    const i = rng.int(0, queues.length - 1)
    out.push(queues[i]!.shift()!)
    if (queues[i]!.length === 0) queues.splice(i, 1)
  }
  return out
}

/** A consumer worker: applies its partition in batches of random size, sometimes delivering a batch twice. */
async function consume(db: Kysely<Database>, rng: Rng, part: Partition, events: readonly AgentInput[]): Promise<void> {
  const msgs = part.messages(events)
  stats.messages += msgs.length
  for (let i = 0; i < msgs.length;) {
    const n = rng.int(1, 6)
    const batch = { topic: part.topic, partition: part.partition, messages: msgs.slice(i, i + n) }
    i += n
    await withRetry(() => applyBatch(db, batch, handlers))
    stats.batches++
    if (rng.chance(0.1)) {
      stats.redeliveries++
      const again = await withRetry(() => applyBatch(db, batch, handlers))
      if (again.applied.length !== 0) throw new Error(`re-delivered batch applied again (${SEED_NOTE})`)
    }
  }
}

async function submitAll(db: Kysely<Database>, events: readonly AgentInput[]): Promise<void> {
  for (const e of events) {
    const r = await withRetry(() => submitInput(db, e, handlers))
    stats.http++
    if (r.duplicate) stats.httpDuplicates++
  }
}

async function observe(db: Kysely<Database>, agents: readonly string[]): Promise<Map<string, Observed>> {
  const agentRows = await rows(db, 'SELECT * FROM agents')
  const replicaRows = await rows(db, 'SELECT * FROM replica_instances ORDER BY created_at, id')
  const switches = await rows(db, 'SELECT agent_id, old_instance_id FROM instance_switches')
  return new Map(agents.map((a) => {
    const mine = replicaRows.filter((r) => r.agent_id === a)
    return [a, {
      agent: agentRows.find((x) => x.id === a),
      live: mine.find((r) => ['launching', 'syncing', 'ready'].includes(r.status)),
      ended: mine.filter((r) => !['launching', 'syncing', 'ready'].includes(r.status)),
      oldInstances: switches.filter((s) => s.agent_id === a && s.old_instance_id !== null).map((s) => s.old_instance_id),
    }]
  }))
}

const isAgent = (e: StoredEvent): e is AgentEvent => isAgentEventType(e.type)

function parseLogged(row: LogEventRow): AgentEvent {
  const e = storedEventOfRow(row)
  if (isAgent(e)) return e
  throw new Error(`seq ${row.seq}: ${e.type} is not an agent event`)
}

async function stateFromRows(db: Kysely<Database>, agentId: string): Promise<AgentState> {
  const [row] = await rows(db, `SELECT * FROM agents WHERE id = '${agentId}'`)
  const reps = await rows(db, `SELECT * FROM replica_instances WHERE agent_id = '${agentId}' ORDER BY id`)
  const signals = (await loadRecentSignals(db, [agentId])).get(agentId) ?? []
  return agentFromRow(row as never, reps.map((r) => replicaFromRow(r as never)), signals)
}

/** One line per log row, for the diagnosis of a failed replay. */
function describeLog(entries: readonly (LogEventRow & { source: string })[]): string {
  return entries.map((l) => {
    return `${l.seq} ${l.source ?? ''} ${l.type} ${l.event_id.slice(0, 8)} cause=${l.cause_event_id?.slice(0, 8) ?? '-'} ${JSON.stringify(storedEventOfRow(l).data)}`
  }).join('\n')
}

const AGENT_COMPARED = `id, instance_id, instance_type, az, current_pool_id, current_mode, manual_replica_enabled, auto_switch_enabled,
  current_replica_id, last_interruption_signal, last_failover_at, interruption_handled_count, spot_price`
const REPLICA_COMPARED = 'id, agent_id, status, pool_id, instance_id, replica_type'

t.test(`concurrent delivery keeps the agent invariants and replays to the same state (${SEED_NOTE})`, async (t) => {
  t.comment(SEED_NOTE)
  const started = Date.now()
  const rng = seededRng(seed)
  const { db, url, name } = await freshDatabase(t, { migrate: true })
  const workers = Array.from({ length: PARTITIONS + 2 }, () => createDb({ url, database: name, connectionLimit: 2 }))
  t.teardown(async () => { await Promise.all(workers.map((w) => w.destroy())) })
  const consumers = workers.slice(0, PARTITIONS)
  const pricingDb = workers[PARTITIONS]!
  const httpDb = workers[PARTITIONS + 1]!

  const h = new History(rng)
  const parts = Array.from({ length: PARTITIONS }, (_, p) => new Partition(AGENT_TOPIC, p))
  const pricing = new Partition(PRICING_TOPIC, 0)
  await consume(pricingDb, rng, pricing, h.snapshots())

  for (let round = 0; round < ROUNDS; round++) {
    const observed = await observe(db, h.agents)
    const perAgent = round === 0 ? h.registrations() : h.agentRound(observed)
    const http = h.httpRound(observed)
    const streams = parts.map((p) => interleave(rng, h.agents.filter((a) => h.partitionOf.get(a) === p.partition).map((a) => perAgent.get(a) ?? [])))
    await Promise.all([
      ...parts.map((p, i) => consume(consumers[i]!, rng, p, streams[i]!)),
      consume(pricingDb, rng, pricing, h.snapshots()),
      submitAll(httpDb, http),
    ])
  }
  t.comment(`${ROUNDS} rounds: ${stats.messages} messages in ${stats.batches} batches (${stats.redeliveries} re-delivered), ` +
    `${stats.http} HTTP submissions (${stats.httpDuplicates} duplicates), ${stats.retries} transient retries, ${Date.now() - started} ms`)

  const agentRows = await rows(db, 'SELECT * FROM agents ORDER BY id')
  const replicaRows = await rows(db, 'SELECT * FROM replica_instances')
  const signalRows = await rows(db, 'SELECT * FROM spot_interruption_events')
  const outbox = await rows(db, 'SELECT * FROM outbox')
  const log = await db.selectFrom('event_log').select([...LOG_EVENT_COLUMNS, 'source']).orderBy('seq').execute()
  t.equal(agentRows.length, AGENTS, `one row per agent (${SEED_NOTE})`)

  await t.test('checkpoints cover every delivered offset', async (t) => {
    const cps = await rows(db, 'SELECT topic, partition_no, offset_no FROM consumer_checkpoints')
    for (const p of [...parts, pricing]) {
      const cp = cps.find((c) => c.topic === p.topic && c.partition_no === p.partition)
      t.equal(Number(cp?.offset_no), p.lastOffset, `${p.topic}/${p.partition} (${SEED_NOTE})`)
    }
  })

  await t.test('every event was logged once', async (t) => {
    const ids = log.map((l) => l.event_id)
    t.equal(new Set(ids).size, ids.length, `event ids unique in event_log (${SEED_NOTE})`)
  })

  await t.test('agent invariants', async (t) => {
    const rejected = new Set(log.filter((l) => l.type === 'decision.rejected').map((l) => l.cause_event_id))
    for (const a of agentRows) {
      const note = `agent ${a.id} (${SEED_NOTE})`
      t.notOk(a.manual_replica_enabled === 1 && a.auto_switch_enabled === 1, `manual and automatic not both on: ${note}`)
      const live = replicaRows.filter((r) => r.agent_id === a.id && ['launching', 'syncing', 'ready'].includes(r.status))
      t.ok(live.length <= 1, `at most one live replica: ${note}`)
      t.equal(a.current_replica_id, live[0]?.id ?? null, `current_replica_id names the live replica, or NULL when none: ${note}`)
      const failovers = signalRows.filter((s) => s.agent_id === a.id && s.response_action === 'failover')
      t.equal(a.interruption_handled_count, failovers.length, `interruption_handled_count = failover rows: ${note}`)
      const failoverDecisions = log.filter((l) => l.agent_id === a.id && l.type === 'decision.failover_executed')
      t.equal(failoverDecisions.length, failovers.length, `one failover decision per failover row: ${note}`)

      const notices = log.filter((l) => l.agent_id === a.id && l.type === 'spot.termination_notice')
      for (const n of notices) {
        const row = signalRows.find((s) => s.event_id === n.event_id)
        if (rejected.has(n.event_id)) {
          t.notOk(row, `a rejected notice has no interruption row: ${n.event_id} ${note}`)
          continue
        }
        t.ok(row && ['failover', 'emergency-snapshot'].includes(row.response_action), `applied notice ${n.event_id} answered: ${note}`)
        const expected = row?.response_action === 'failover' ? 'command.promote_replica' : 'command.emergency_snapshot'
        t.ok(outbox.some((c) => c.cause_event_id === n.event_id && c.type === expected), `${expected} in the outbox for ${n.event_id}: ${note}`)
        if (row?.response_action === 'failover') {
          const rep = replicaRows.find((r) => r.id === row.replica_id)
          t.equal(rep?.status, 'promoted', `failed-over replica promoted: ${note}`)
        }
      }
    }
    // Ruled out above per agent; here across the fleet: the generator did exercise the paths.
    t.comment(`signals: ${signalRows.length} (${signalRows.filter((s) => s.response_action === 'failover').length} failovers, ` +
      `${signalRows.filter((s) => s.response_action === 'emergency-snapshot').length} emergency snapshots), ` +
      `${rejected.size} rejections, ${replicaRows.length} replicas`)
  })

  await t.test('a replay of event_log into an empty database gives the same agents and replicas', async (t) => {
    const replayed = new Map<string, AgentState>()
    for (const a of agentRows) {
      const events = log.filter((l) => l.agent_id === a.id && isAgentEventType(l.type)).map(parseLogged)
      const s = replay(initialAgentState(a.id, a.client_id), events)
      replayed.set(a.id, s)
      const ok = t.same(s, await stateFromRows(db, a.id), `fold of the log equals the rows: agent ${a.id} (${SEED_NOTE})`)
      if (!ok) t.comment(`log of agent ${a.id}:\n${describeLog(log.filter((l) => l.agent_id === a.id))}`)
    }

    const target = await freshDatabase(t, { migrate: true })
    const states = [...replayed.values()]
    await target.db.transaction().execute(async (trx) => {
      await saveAgents(trx, states.map((state) => ({ state })))
      await saveReplicas(trx, states.flatMap((s) => Object.values(s.replicas).map((r): ReplicaWrite => ({ agentId: s.agentId, clientId: s.clientId, replica: r }))))
    })
    t.same(
      await rows(target.db, `SELECT ${AGENT_COMPARED} FROM agents ORDER BY id`),
      await rows(db, `SELECT ${AGENT_COMPARED} FROM agents ORDER BY id`),
      `agents rebuilt from the log equal the live rows (${SEED_NOTE})`,
    )
    t.same(
      await rows(target.db, `SELECT ${REPLICA_COMPARED} FROM replica_instances ORDER BY id`),
      await rows(db, `SELECT ${REPLICA_COMPARED} FROM replica_instances ORDER BY id`),
      `replica statuses rebuilt from the log equal the live rows (${SEED_NOTE})`,
    )
  })
  t.comment(`done in ${Date.now() - started} ms (${SEED_NOTE})`)
})
