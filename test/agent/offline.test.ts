/**
 * Silent agents (src/agent/offline-sweep.ts): an agent whose last input is
 * older than AGENT_OFFLINE_SECONDS is marked offline by a decision in the
 * log; its next heartbeat brings it back online; two sweeps at once mark it
 * once; a replay of the log gives the same state as the rows; /metrics
 * counts agents offline per client and the agents route shows the status.
 * The clock is injected (`now`), so no test waits out a timeout.
 */
import { randomUUID } from 'node:crypto'
import { sql, type Kysely } from 'kysely'
import t from 'tap'
import { isAgentEventType, type AgentEvent } from '../../src/agent/agent.events.js'
import { agentFromRow, loadRecentSignals, replicaFromRow } from '../../src/agent/agent.repository.js'
import { initialAgentState, replay } from '../../src/agent/agent.state.js'
import { sweepOffline } from '../../src/agent/offline-sweep.js'
import { createDb } from '../../src/db/connect.js'
import type { Database } from '../../src/db/database.js'
import { newEvent } from '../../src/events/producer.js'
import type { SpotEvent } from '../../src/events/schemas.js'
import { applyBatch } from '../../src/log/apply-batch.js'
import { LOG_EVENT_COLUMNS, storedEventOfRow } from '../../src/log/stored-event.js'
import { pipeline, PROJECTIONS } from '../../src/wiring.js'
import { buildApp } from '../helper-app.js'

const OFFLINE_SECONDS = 60
const later = (s: number) => () => new Date(Date.now() + s * 1000)
let offset = 0

async function consume(db: Kysely<Database>, events: SpotEvent[]): Promise<void> {
  await applyBatch(db, { topic: 'offline-test', partition: 0, messages: events.map((e) => ({ offset: String(offset++), key: Buffer.from(e.agentId), value: Buffer.from(JSON.stringify(e)) })) }, pipeline())
}

const registered = (clientId: string, agentId: string, i: number) => newEvent('agent.registered', {
  clientId, agentId, data: { logicalAgentId: `agent-${i}`, instanceId: `i-${i}`, instanceType: 'm5.large', region: 'us-east-1', az: 'us-east-1a', mode: 'spot', hostname: `h-${i}`, spotPrice: '0.03', onDemandPrice: '0.09' },
})
const heartbeat = (clientId: string, agentId: string, i: number, at = new Date()) => newEvent('agent.heartbeat', {
  clientId, agentId, occurredAt: at.toISOString(), data: { status: 'online', instanceId: `i-${i}`, mode: 'spot', poolId: 'm5.large.us-east-1a', spotPrice: '0.03', onDemandPrice: '0.09' },
})

const statusOf = async (db: Kysely<Database>, id: string) => (await db.selectFrom('agents').select('status').where('id', '=', id).executeTakeFirstOrThrow()).status
const offlineDecisions = async (db: Kysely<Database>) => (await db.selectFrom('event_log').select(LOG_EVENT_COLUMNS)
  .where('type', '=', 'decision.agent_offline').orderBy('seq').execute()).map((r) => ({ ...r, event: storedEventOfRow(r) }))

/** The agent folded from its log (the replay rule) and as its rows hold it. */
async function replayedAndStored(db: Kysely<Database>, id: string, clientId: string) {
  const log = await db.selectFrom('event_log').select(LOG_EVENT_COLUMNS).where('agent_id', '=', id).orderBy('seq').execute()
  const events = log.filter((l) => isAgentEventType(l.type)).map((l) => storedEventOfRow(l)).filter((e): e is AgentEvent => isAgentEventType(e.type))
  const row = await db.selectFrom('agents').selectAll().where('id', '=', id).executeTakeFirstOrThrow()
  const reps = await db.selectFrom('replica_instances').selectAll().where('agent_id', '=', id).orderBy('id').execute()
  const stored = agentFromRow(row, reps.map(replicaFromRow), (await loadRecentSignals(db, [id])).get(id) ?? [])
  return { replayed: replay(initialAgentState(id, clientId), events), stored }
}

t.test('offline after the timeout, online with the next heartbeat, replay equal, metrics and route', async (t) => {
  const { app, db, client } = await buildApp(t)
  const [a, b] = [randomUUID(), randomUUID()]
  await consume(db, [registered(client.id, a, 1), registered(client.id, b, 2), heartbeat(client.id, a, 1), heartbeat(client.id, b, 2)])
  const lastOfA = (await db.selectFrom('event_log').select('event_id').where('agent_id', '=', a).where('source', '=', 'kafka').orderBy('seq', 'desc').limit(1).executeTakeFirstOrThrow()).event_id

  t.same(await sweepOffline(db, { offlineSeconds: OFFLINE_SECONDS, projections: PROJECTIONS }), [], 'not silent yet: nobody marked')
  t.equal(await statusOf(db, a), 'online')

  const marked = await sweepOffline(db, { offlineSeconds: OFFLINE_SECONDS, projections: PROJECTIONS, now: later(OFFLINE_SECONDS + 1) })
  t.same(marked.map((d) => d.agentId).sort(), [a, b].sort(), 'both silent past the timeout: both marked')
  t.same([await statusOf(db, a), await statusOf(db, b)], ['offline', 'offline'])
  const logged = await offlineDecisions(db)
  t.equal(logged.length, 2, 'one decision each in the log')
  t.equal(logged.find((d) => d.agent_id === a)?.cause_event_id, lastOfA, 'caused by the silence after its last input')
  t.match(logged[0]!.event, { type: 'decision.agent_offline', data: { offlineSeconds: OFFLINE_SECONDS, sweptAt: String, lastSeenAt: String } })
  t.same(await sweepOffline(db, { offlineSeconds: OFFLINE_SECONDS, projections: PROJECTIONS, now: later(OFFLINE_SECONDS + 5) }), [], 'an offline agent is not marked again')

  t.match((await app.inject('/metrics')).body, new RegExp(`spotfleet_agents_offline\\{client="${client.id}"\\} 2\\n`), 'metrics: two offline for the client')
  const listed = await app.inject({ url: `/api/client/${client.id}/agents`, headers: { authorization: `Bearer ${client.token}` } })
  t.equal(listed.statusCode, 200)
  t.same(JSON.stringify(listed.json()).match(/"status":"offline"/g)?.length, 2, 'the agents route shows them offline')

  await consume(db, [heartbeat(client.id, a, 1)])
  t.equal(await statusOf(db, a), 'online', 'back online with its next heartbeat')
  t.equal(await statusOf(db, b), 'offline', 'the other stays offline')
  t.match((await app.inject('/metrics')).body, new RegExp(`spotfleet_agents_offline\\{client="${client.id}"\\} 1\\n`), 'metrics: one offline now')
  // Marked again after another silence.
  const again = await sweepOffline(db, { offlineSeconds: OFFLINE_SECONDS, projections: PROJECTIONS, now: later(OFFLINE_SECONDS + 2) })
  t.same(again.map((d) => d.agentId), [a], 'silent again: marked again')
  await consume(db, [heartbeat(client.id, a, 1, new Date(Date.now() - 3_600_000))])
  t.equal(await statusOf(db, a), 'offline', 'a heartbeat older than the last one seen does not bring it back')

  for (const id of [a, b]) {
    const { replayed, stored } = await replayedAndStored(db, id, client.id)
    t.same(replayed, stored, `replay of the log equals the rows (agent ${id.slice(0, 8)}, ${stored.status})`)
  }
})

t.test('two sweeps at once (two instances) mark each agent once', async (t) => {
  const { db, client, url, name } = await buildApp(t).then(async (x) => ({ ...x, ...(await dbInfo(x.db)) }))
  const agents = Array.from({ length: 20 }, () => randomUUID())
  await consume(db, agents.flatMap((id, i) => [registered(client.id, id, i), heartbeat(client.id, id, i)]))
  const other = createDb({ url, database: name, connectionLimit: 2 })
  t.teardown(() => other.destroy())
  const opts = { offlineSeconds: OFFLINE_SECONDS, projections: PROJECTIONS, now: later(OFFLINE_SECONDS + 1) }
  const [x, y] = await Promise.all([sweepOffline(db, opts), sweepOffline(other, opts)])
  t.equal(x.length + y.length, agents.length, `every agent marked once between the two (${x.length} + ${y.length})`)
  const logged = await offlineDecisions(db)
  t.same(logged.map((d) => d.agent_id).sort(), [...agents].sort(), 'one decision per agent in the log')
})

/** The server URL and database name of a test database (buildApp made it). */
async function dbInfo(db: Kysely<Database>): Promise<{ url: string, name: string }> {
  const { rows } = await sql<{ d: string }>`SELECT DATABASE() AS d`.execute(db)
  return { url: process.env.DATABASE_URL || 'mysql://root@127.0.0.1:3306/test', name: rows[0]!.d }
}
