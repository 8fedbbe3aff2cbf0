// Issue 8 on MariaDB, through applyBatch with each event on its own topic
// (TOPIC_OF): §1 order across topics, §2 backlogs of any age, §4 unknown
// agents and tenants, §8 set-based and indexed writes.
import { sql, type Kysely } from 'kysely'
import { Kysely as KyselyClass, MysqlDialect } from 'kysely'
import { createPool } from 'mysql2'
import t from 'tap'
import { loadRecentSignals } from '../../src/agent/agent.repository.js'
import { poolOptions } from '../../src/db/connect.js'
import type { Database } from '../../src/db/database.js'
import { DEFAULT_TOPICS, TOPIC_OF, type SpotEvent } from '../../src/events/schemas.js'
import { applyBatch, type ApplyResult } from '../../src/log/apply-batch.js'
import { pipeline } from '../../src/wiring.js'
import { freshDatabase } from '../helper-db.js'
import {
  CLIENT, POOL_A, POOL_B, POOL_C, at, heartbeat, launched, ready, rebalance, registered, switched, termination, uuid, wire,
} from './fixtures/events.js'

const NOW = new Date(at(0, 30))
const OTHER_CLIENT = uuid(1, 77)
const handlers = pipeline({ rebalancePolicy: 'replica', recentInterruptionMinutes: 10, clock: () => NOW })

type Row = Record<string, any>
async function rows(db: Kysely<Database>, query: string): Promise<Row[]> {
  return (await sql.raw<Row>(query).execute(db)).rows
}

/** Delivers each event on the topic its type belongs to, one batch per topic, in the order given. */
function deliverer(db: Kysely<Database>) {
  const next = new Map<string, number>()
  return async (...events: { eventId: string, agentId: string, type: string }[]): Promise<ApplyResult[]> => {
    const out: ApplyResult[] = []
    for (const e of events) {
      const topic = DEFAULT_TOPICS[TOPIC_OF[e.type as SpotEvent['type']]]
      const offset = next.get(topic) ?? 0
      next.set(topic, offset + 1)
      out.push(await applyBatch(db, { topic, partition: 0, messages: [{ offset: String(offset), key: Buffer.from(e.agentId), value: Buffer.from(JSON.stringify(e)) }] }, handlers))
    }
    return out
  }
}

const agent = (n: number) => uuid(n, 21)
/** A registered agent on i-primary (pool A) with an adopted replica in pool B, ready. */
const withReadyReplica = (agentId: string, replicaId: string) => [
  registered({ agentId, at: at(0, 1) }),
  launched(replicaId, { agentId, instanceId: `i-r-${agentId.slice(-2)}`, poolId: POOL_B, at: at(0, 2) }),
  ready(replicaId, { agentId, at: at(0, 3) }),
]

t.test('issue 8 on MariaDB', async (t) => {
  const { db, url, name } = await freshDatabase(t, { migrate: true })
  const deliver = deliverer(db)
  const dead = async () => rows(db, 'SELECT event_id, event_type, reason FROM dead_letter_events ORDER BY id')

  await t.test('§1 a notice for i-2 consumed before the switch i-1 -> i-2 that preceded it: failover, row, command, no dead letter', async (t) => {
    const a = agent(1)
    const r1 = uuid(1, 31)
    await deliver(...withReadyReplica(a, r1))
    const notice = termination({ agentId: a, instanceId: 'i-2', poolId: POOL_C, at: at(0, 20) })
    await deliver(notice, switched('i-primary', 'i-2', { agentId: a, at: at(0, 10) }))
    t.same(await dead(), [])
    const [row] = await rows(db, `SELECT * FROM spot_interruption_events WHERE event_id = '${notice.eventId}'`)
    t.match(row, { instance_id: 'i-2', response_action: 'failover', replica_id: r1, success: 1 })
    const cmds = await rows(db, `SELECT type, payload FROM outbox WHERE cause_event_id = '${notice.eventId}'`)
    t.same(cmds.map((c) => c.type), ['command.promote_replica'])
    const [ag] = await rows(db, `SELECT instance_id, current_pool_id, former_instance_ids FROM agents WHERE id = '${a}'`)
    t.match(ag, { instance_id: `i-r-${a.slice(-2)}`, current_pool_id: POOL_B })
    t.same(JSON.parse(ag!.former_instance_ids), ['i-primary', 'i-2'])
  })

  await t.test('§1 a heartbeat produced before a failover and consumed after it does not move the agent back; the next notice is answered', async (t) => {
    const a = agent(2)
    await deliver(...withReadyReplica(a, uuid(2, 31)))
    await deliver(termination({ agentId: a, at: at(0, 20) }))
    await deliver(heartbeat({ agentId: a, at: at(0, 15) }), heartbeat({ agentId: a, at: at(0, 25) }))
    const [ag] = await rows(db, `SELECT instance_id FROM agents WHERE id = '${a}'`)
    t.equal(ag!.instance_id, `i-r-${a.slice(-2)}`, 'still on the replica it failed over to')
    const next = termination({ agentId: a, instanceId: `i-r-${a.slice(-2)}`, poolId: POOL_B, at: at(0, 28) })
    await deliver(next)
    t.same(await dead(), [])
    const [row] = await rows(db, `SELECT response_action FROM spot_interruption_events WHERE event_id = '${next.eventId}'`)
    t.equal(row?.response_action, 'emergency-snapshot')
  })

  await t.test('§1 a heartbeat older than a signal sets its price whichever topic delivers first', async (t) => {
    const [x, y] = [agent(3), agent(4)]
    const events = (a: string) => ({
      hb: heartbeat({ agentId: a, at: at(0, 10), spotPrice: '0.0311' }),
      signal: rebalance({ agentId: a, at: at(0, 20) }),
    })
    const ex = events(x)
    const ey = events(y)
    await deliver(registered({ agentId: x, at: at(0, 1) }), registered({ agentId: y, at: at(0, 1) }))
    await deliver(ex.hb, ex.signal)
    await deliver(ey.signal, ey.hb)
    const got = await rows(db, `SELECT id, spot_price, instance_at, price_at, last_heartbeat_at, last_interruption_signal
      FROM agents WHERE id IN ('${x}', '${y}') ORDER BY id = '${y}'`)
    const strip = ({ id: _id, ...r }: Row) => r
    t.match(got[0], { spot_price: '0.031100' }, 'heartbeat first: its price')
    t.same(strip(got[1]!), strip(got[0]!), 'signal first: the same row')
    t.same(await dead(), [])
  })

  await t.test('§2 signals from 1970, 25 days ago and an hour ahead are answered and stored, with the clock skew', async (t) => {
    const a = agent(3)
    await deliver(registered({ agentId: a, at: at(-60) }))
    const cases = [
      { at: '1970-01-01T00:00:00.000Z', response: 2_147_483_647 },
      { at: new Date(NOW.getTime() - 25 * 86_400_000).toISOString(), response: 2_147_483_647 },
      { at: new Date(NOW.getTime() + 3_600_000).toISOString(), response: 0 },
    ]
    for (const c of cases) {
      const notice = termination({ agentId: a, at: c.at, terminationTime: new Date(Date.parse(c.at) + 120_000).toISOString() })
      const [r] = await deliver(notice)
      t.equal(r!.deadLettered, 0, `${c.at}: not dead-lettered`)
      const [row] = await rows(db, `SELECT response_action, response_time_ms, clock_skew_ms FROM spot_interruption_events WHERE event_id = '${notice.eventId}'`)
      t.same(row, { response_action: 'emergency-snapshot', response_time_ms: c.response, clock_skew_ms: Date.parse(c.at) - NOW.getTime() }, c.at)
      t.equal((await rows(db, `SELECT 1 FROM outbox WHERE cause_event_id = '${notice.eventId}' AND type = 'command.emergency_snapshot'`)).length, 1)
    }
    // A failover on a 1970 signal, then the agent's promotion report: failover_time_ms saturates, the report is stored.
    const b = agent(4)
    const rb = uuid(4, 31)
    await deliver(...withReadyReplica(b, rb))
    const old = termination({ agentId: b, at: '1970-01-01T00:00:00.000Z' })
    await deliver(old)
    const [promoted] = await deliver(wire('replica.promoted', { replicaId: rb, newInstanceId: `i-r-${b.slice(-2)}` }, { agentId: b, at: at(0, 29) }))
    t.equal(promoted!.deadLettered, 0)
    const [row] = await rows(db, `SELECT response_action, response_time_ms, failover_time_ms FROM spot_interruption_events WHERE event_id = '${old.eventId}'`)
    t.same(row, { response_action: 'failover', response_time_ms: 2_147_483_647, failover_time_ms: 2_147_483_647 })
  })

  await t.test('§4 events before the registration are parked, not lost; the registration applies them in order', async (t) => {
    const a = agent(5)
    // The first event carries another client; before the fix it created the row and bound the agent to that client.
    const notice = termination({ agentId: a, instanceId: 'i-later', poolId: POOL_C, at: at(0, 14), clientId: OTHER_CLIENT })
    const hb = heartbeat({ agentId: a, instanceId: 'i-later', poolId: POOL_C, at: at(0, 12) })
    const results = await deliver(notice, hb)
    t.same(results.map((r) => r.deadLettered), [0, 0], 'parked, not dead-lettered')
    t.same(await rows(db, `SELECT id FROM agents WHERE id = '${a}'`), [], 'no agents row before agent.registered')
    t.same((await rows(db, `SELECT event_id FROM agent_parked_events WHERE agent_id = '${a}' ORDER BY occurred_at`)).map((r) => r.event_id), [hb.eventId, notice.eventId])
    t.same(await rows(db, `SELECT 1 FROM outbox WHERE agent_id = '${a}'`), [])

    // The first event's client does not bind the agent: the registration does.
    const [reg] = await deliver(registered({ agentId: a, at: at(0, 10) }))
    t.equal(reg!.deadLettered, 0, 'the real registration is not refused')
    const [ag] = await rows(db, `SELECT client_id, instance_id, current_pool_id FROM agents WHERE id = '${a}'`)
    t.same(ag, { client_id: CLIENT, instance_id: 'i-later', current_pool_id: POOL_C }, 'registered, then the parked heartbeat applied')
    t.same(await rows(db, `SELECT 1 FROM agent_parked_events WHERE agent_id = '${a}'`), [], 'parking emptied')
    // Applied after the registration, through the same rules: the notice of another client is refused then.
    const rejected = await rows(db, `SELECT cause_event_id FROM event_log WHERE type = 'decision.rejected' AND agent_id = '${a}' ORDER BY seq`)
    t.same(rejected.map((r) => r.cause_event_id), [notice.eventId])
  })

  await t.test('§4 parked events of the right client are applied: the notice is answered when the registration arrives', async (t) => {
    const a = agent(6)
    const notice = termination({ agentId: a, at: at(0, 14) })
    await deliver(notice)
    t.same(await rows(db, `SELECT 1 FROM spot_interruption_events WHERE event_id = '${notice.eventId}'`), [])
    await deliver(registered({ agentId: a, at: at(0, 10) }))
    const [row] = await rows(db, `SELECT response_action FROM spot_interruption_events WHERE event_id = '${notice.eventId}'`)
    t.equal(row?.response_action, 'emergency-snapshot')
    t.equal((await rows(db, `SELECT 1 FROM outbox WHERE cause_event_id = '${notice.eventId}'`)).length, 1)
    t.same(await dead(), [])
  })

  await t.test("§4 a registration claiming another client's agent is refused", async (t) => {
    const a = agent(6)
    const claim = registered({ agentId: a, clientId: OTHER_CLIENT, at: at(0, 20) })
    const [r] = await deliver(claim)
    t.equal(r!.deadLettered, 1)
    const [d] = await rows(db, `SELECT reason FROM dead_letter_events WHERE event_id = '${claim.eventId}'`)
    t.match(d?.reason, /belongs to another client/)
    const [ag] = await rows(db, `SELECT client_id FROM agents WHERE id = '${a}'`)
    t.equal(ag?.client_id, CLIENT)
  })

  await t.test("§4 pricing.snapshot and instance.metrics of another client than the agent's are dead-lettered", async (t) => {
    const a = agent(6)
    const snap = (clientId: string) => wire('pricing.snapshot', {
      poolId: POOL_A, instanceType: 'm5.large', region: 'us-east-1', az: 'us-east-1a', spotPrice: '0.03', onDemandPrice: '0.096',
      observedAt: at(0, 5), sourceType: 'agent',
    }, { agentId: a, clientId })
    const metrics = (clientId: string) => wire('instance.metrics', { instanceId: 'i-primary', cpu: 10, memory: 20 }, { agentId: a, clientId })
    const [foreignSnap, ownSnap, foreignMetrics, ownMetrics] = [snap(OTHER_CLIENT), snap(CLIENT), metrics(OTHER_CLIENT), metrics(CLIENT)]
    const results = await deliver(foreignSnap, ownSnap, foreignMetrics, ownMetrics)
    t.same(results.map((r) => r.deadLettered), [1, 0, 1, 0])
    t.same((await rows(db, `SELECT event_id FROM pricing_snapshots_clean WHERE event_id IN ('${foreignSnap.eventId}', '${ownSnap.eventId}')`)).map((r) => r.event_id), [ownSnap.eventId])
    t.same((await rows(db, `SELECT event_id FROM instance_metrics WHERE event_id IN ('${foreignMetrics.eventId}', '${ownMetrics.eventId}')`)).map((r) => r.event_id), [ownMetrics.eventId])
    const reasons = await rows(db, `SELECT reason FROM dead_letter_events WHERE event_id IN ('${foreignSnap.eventId}', '${foreignMetrics.eventId}')`)
    t.ok(reasons.length === 2 && reasons.every((r) => /belongs to another client/.test(r.reason)))
  })

  await t.test('§8 one batch: agents locked once, one failover-completion UPDATE through an index, recent signals read bounded', async (t) => {
    const agents = [agent(7), agent(8), agent(9)]
    const replicas = agents.map((a, i) => uuid(7 + i, 31))
    for (const [i, a] of agents.entries()) {
      await deliver(...withReadyReplica(a, replicas[i]!))
      await deliver(termination({ agentId: a, at: at(0, 20) }))
    }
    const queries: string[] = []
    const pool = createPool(poolOptions({ url, database: name, connectionLimit: 2 }))
    pool.on('connection', (conn) => { conn.query("SET time_zone = '+00:00'") })
    const logged = new KyselyClass<Database>({ dialect: new MysqlDialect({ pool }), log: (e) => { if (e.level === 'query') queries.push(e.query.sql) } })
    t.teardown(() => logged.destroy())
    const batch = agents.map((a, i) => wire('replica.promoted', { replicaId: replicas[i]!, newInstanceId: `i-r-${a.slice(-2)}` }, { agentId: a, at: at(0, 29) }))
    const r = await applyBatch(logged, {
      topic: 'replica-events-8', partition: 0,
      messages: batch.map((e, i) => ({ offset: String(i), key: Buffer.from(e.agentId), value: Buffer.from(JSON.stringify(e)) })),
    }, handlers)
    t.equal(r.deadLettered, 0)
    const count = (re: RegExp) => queries.filter((q) => re.test(q)).length
    t.equal(count(/^update `spot_interruption_events`/i), 1, 'one UPDATE for the three completions')
    t.equal(count(/from `agents`.*for update/is), 1, 'the agents are locked once per batch')
    const done = await rows(db, `SELECT failover_time_ms FROM spot_interruption_events WHERE replica_id IN ('${replicas.join("','")}') AND response_action = 'failover'`)
    t.same(done.map((x) => x.failover_time_ms), [9000, 9000, 9000])
    const [plan] = await rows(db, `EXPLAIN UPDATE spot_interruption_events SET failover_time_ms = 0 WHERE replica_id IN ('${replicas.join("','")}') AND response_action = 'failover'`)
    t.equal(plan?.key, 'idx_interruption_replica', 'the completion UPDATE uses an index on replica_id')

    // 300 signals of one agent: the per-batch read walks about RECENT_SIGNALS_KEPT of them, not the history.
    const heavy = agents[0]!
    await sql`INSERT INTO spot_interruption_events (event_id, client_id, agent_id, instance_id, pool_id, signal_type, detected_at)
      SELECT UUID(), ${CLIENT}, ${heavy}, 'i-old', ${POOL_A}, 'rebalance-recommendation', TIMESTAMPADD(SECOND, seq, '2026-11-01')
        FROM seq_1_to_300`.execute(db)
    const conn = await logged.connection().execute(async (c) => {
      const reads = async () => (await sql<{ Value: string }>`SHOW SESSION STATUS LIKE 'Handler_read%'`.execute(c)).rows.reduce((n, x) => n + Number(x.Value), 0)
      const before = await reads()
      const got = await c.transaction().execute((trx) => loadRecentSignals(trx, [heavy]))
      return { rowsRead: (await reads()) - before, kept: got.get(heavy)?.length ?? 0 }
    })
    t.equal(conn.kept, 20)
    t.ok(conn.rowsRead < 100, `rows read for the recent signals: ${conn.rowsRead} (history 300+)`)
  })
})
