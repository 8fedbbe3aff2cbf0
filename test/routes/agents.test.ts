// The client API over app.inject on real MariaDB: bearer auth and ownership,
// zod validation, the manual/automatic mutual exclusion through the config
// form, replica create/promote/delete through the agent rules (409 with the
// rule's reason), Idempotency-Key retries, and every command in event_log
// with source 'http'.
import { randomUUID } from 'node:crypto'
import type { FastifyInstance, InjectOptions } from 'fastify'
import { sql, type Kysely } from 'kysely'
import t from 'tap'
import { submitInput } from '../../src/log/core.js'
import { createClient } from '../../src/clients/client.repository.js'
import type { Database } from '../../src/db/database.js'
import { newEvent } from '../../src/events/producer.js'
import { applyBatch } from '../../src/log/apply-batch.js'
import type { Pipeline } from '../../src/log/core.js'
import { buildApp } from '../helper-app.js'

const POOL_A = 'm5.large.us-east-1a'
const POOL_B = 'm5.large.us-east-1b'
const POOL_C = 'm5.large.us-east-1c'

const registered = (clientId: string, agentId: string, instanceId: string) => newEvent('agent.registered', {
  clientId, agentId, data: {
    logicalAgentId: 'web-1', instanceId, instanceType: 'm5.large', region: 'us-east-1', az: 'us-east-1a',
    mode: 'spot', hostname: 'ip-10-0-0-12', spotPrice: '0.0345', onDemandPrice: '0.096',
  },
})

const snapshot = (clientId: string, poolId: string, spotPrice: string) => newEvent('pricing.snapshot', {
  clientId, agentId: randomUUID(), data: {
    poolId, instanceType: 'm5.large', region: 'us-east-1', az: poolId.slice('m5.large.'.length),
    spotPrice, onDemandPrice: '0.096', observedAt: new Date(Date.now() - 60_000).toISOString(), sourceType: 'agent',
  },
})

async function rows<T>(db: Kysely<Database>, query: string): Promise<T[]> {
  return (await sql.raw<T>(query).execute(db)).rows
}

/** Pools A (the agent's), B (cheapest) and C, and one registered agent of `clientId`. */
async function seed(db: Kysely<Database>, handlers: Pipeline, clientId: string, agentId: string, instanceId = 'i-primary') {
  const snaps = [snapshot(clientId, POOL_A, '0.0345'), snapshot(clientId, POOL_B, '0.03'), snapshot(clientId, POOL_C, '0.032')]
  await applyBatch(db, {
    topic: 'pricing-snapshots', partition: 0,
    messages: snaps.map((e, i) => ({ offset: String(Date.now() * 10 + i), key: Buffer.from(e.data.poolId), value: Buffer.from(JSON.stringify(e)) })),
  }, handlers)
  await submitInput(db, registered(clientId, agentId, instanceId), handlers)
}

t.test('client API', async (t) => {
  const { app, db, client, handlers } = await buildApp(t)
  const other = await createClient(db, 'other client')
  const agentId = randomUUID()
  const otherAgentId = randomUUID()
  await seed(db, handlers, client.id, agentId)
  await seed(db, handlers, other.id, otherAgentId, 'i-other')

  const call = (opts: InjectOptions & { token?: string | null }) => {
    const { token = client.token, ...rest } = opts
    return (app as FastifyInstance).inject({ ...rest, headers: { ...(token === null ? {} : { authorization: `Bearer ${token}` }), ...rest.headers } })
  }
  const configure = (body: object, headers: Record<string, string> = {}) =>
    call({ method: 'POST', url: `/api/client/agents/${agentId}/config`, payload: body, headers })
  const createReplica = (body: object = {}, headers: Record<string, string> = {}) =>
    call({ method: 'POST', url: `/api/agents/${agentId}/replicas`, payload: body, headers })
  const outbox = () => rows<{ type: string, payload: string }>(db, `SELECT type, payload FROM outbox WHERE agent_id = '${agentId}' ORDER BY id`)

  await t.test('auth: a bearer token is required, other clients\' agents are not found', async (t) => {
    const none = await call({ method: 'GET', url: `/api/agents/${agentId}/replicas`, token: null })
    t.equal(none.statusCode, 401)
    t.match(none.json(), { error: 'unauthorized' })
    t.equal((await call({ method: 'GET', url: `/api/agents/${agentId}/replicas`, token: 'sf_nope' })).statusCode, 401)
    t.equal((await call({ method: 'GET', url: `/api/agents/${otherAgentId}/replicas` })).statusCode, 404)
    t.equal((await call({ method: 'GET', url: `/api/client/${other.id}/agents` })).statusCode, 404)
    t.equal((await call({ method: 'GET', url: `/api/client/${other.id}/replicas` })).statusCode, 404)
    const foreign = await call({ method: 'POST', url: `/api/agents/${otherAgentId}/replicas`, payload: {} })
    t.equal(foreign.statusCode, 404)
    const unknown = randomUUID()
    t.equal((await call({ method: 'POST', url: `/api/client/agents/${unknown}/config`, payload: { autoSwitchEnabled: true } })).statusCode, 404)
    const [created] = await rows<{ n: number }>(db, `SELECT COUNT(*) AS n FROM agents WHERE id = '${unknown}'`)
    t.equal(Number(created?.n), 0, 'no agent row is created for an unknown agent')
    t.equal((await call({ method: 'GET', url: '/healthz', token: null })).statusCode, 200, 'health stays open')
  })

  await t.test('validation: 400 with zod issues', async (t) => {
    const bad = await call({ method: 'GET', url: '/api/agents/not-a-uuid/replicas' })
    t.equal(bad.statusCode, 400)
    t.match(bad.json(), { error: 'validation', issues: [{ path: ['params', 'agentId'], code: String, message: String }] })
    const both = await configure({ autoSwitchEnabled: true, manualReplicaEnabled: true })
    t.equal(both.statusCode, 400)
    t.match(both.json().issues, [{ path: ['body', 'manualReplicaEnabled'] }])
    t.equal((await configure({})).statusCode, 400)
    t.equal((await configure({ terminateWaitMinutes: -1 })).statusCode, 400)
    t.match((await createReplica({ poolId: 'nope' })).json(), { error: 'validation', issues: [{ path: ['body', 'poolId'] }] })
    const key = await createReplica({}, { 'idempotency-key': 'not-a-uuid' })
    t.equal(key.statusCode, 400)
    t.match(key.json().issues, [{ path: ['headers', 'idempotency-key'] }])
    const badReplica = await call({ method: 'DELETE', url: `/api/agents/${agentId}/replicas/123` })
    t.match(badReplica.json(), { error: 'validation', issues: [{ path: ['params', 'replicaId'] }] })
    t.same(await outbox(), [], 'nothing was submitted')
  })

  await t.test("the client's agents", async (t) => {
    const r = await call({ method: 'GET', url: `/api/client/${client.id}/agents` })
    t.equal(r.statusCode, 200)
    t.match(r.json(), [{
      id: agentId, clientId: client.id, instanceId: 'i-primary', currentPoolId: POOL_A, autoSwitchEnabled: true,
      manualReplicaEnabled: false, currentReplicaId: null, lastInterruptionSignal: null, lastFailoverAt: null,
      interruptionHandledCount: 0, spotPrice: 0.0345,
    }])
    t.equal(r.json().length, 1)
  })

  let manualId = ''
  await t.test('enabling manual mode turns auto switching off and launches a replica in the cheapest other pool', async (t) => {
    const r = await configure({ manualReplicaEnabled: true })
    t.equal(r.statusCode, 200)
    const body = r.json()
    t.match(body, { success: true, agentId, manualReplicaEnabled: true, autoSwitchEnabled: false, manual_replica_enabled: true, auto_switch_enabled: false, currentReplicaId: String })
    manualId = body.currentReplicaId
    const [rep] = await rows<any>(db, `SELECT * FROM replica_instances WHERE id = '${manualId}'`)
    t.match(rep, { agent_id: agentId, pool_id: POOL_B, replica_type: 'manual', status: 'launching' })
    const cmds = await outbox()
    t.same(cmds.map((c) => [c.type, JSON.parse(c.payload).data]), [['command.launch_replica', { replicaId: manualId, poolId: POOL_B, reason: 'manual-replica-enabled' }]])
    const live = await call({ method: 'GET', url: `/api/client/${client.id}/replicas` })
    t.match(live.json(), [{ agentId, primary: { instanceId: 'i-primary', instanceType: 'm5.large', mode: 'spot' }, replica: { id: manualId, pool: { name: POOL_B }, type: 'manual', status: 'launching', sync_status: 'initializing' } }])
    t.equal(live.json().length, 1)
  })

  await t.test('a second replica while one is live is refused with the rule\'s reason', async (t) => {
    const r = await createReplica()
    t.equal(r.statusCode, 409)
    t.match(r.json(), { error: 'rule_rejected', rule: 'replica_already_live', message: /already live; at most one live replica per agent/ })
  })

  await t.test('enabling auto switching terminates the manual replica', async (t) => {
    const r = await configure({ autoSwitchEnabled: true })
    t.equal(r.statusCode, 200)
    t.match(r.json(), { agentId, autoSwitchEnabled: true, manualReplicaEnabled: false, currentReplicaId: null })
    const [rep] = await rows<any>(db, `SELECT status, termination_reason FROM replica_instances WHERE id = '${manualId}'`)
    t.same(rep, { status: 'terminated', termination_reason: 'auto-switch-enabled' })
    const cmds = await outbox()
    t.same(cmds.map((c) => c.type), ['command.launch_replica', 'command.terminate_replica'])
    t.same(JSON.parse(cmds[1]!.payload).data.replicaId, manualId)
    t.same((await call({ method: 'GET', url: `/api/client/${client.id}/replicas` })).json(), [])
  })

  await t.test('a manual replica in a pool of another instance type or region: 409 with the reason (issue 8 §8)', async (t) => {
    const type = await createReplica({ poolId: 'c5.large.us-east-1b' })
    t.equal(type.statusCode, 409)
    t.match(type.json(), { error: 'rule_rejected', rule: 'pool_mismatch', message: /instance type c5.large, the agent runs m5.large/ })
    const region = await createReplica({ poolId: 'm5.large.eu-west-1a' })
    t.equal(region.statusCode, 409)
    t.match(region.json(), { error: 'rule_rejected', rule: 'pool_mismatch', message: /region eu-west-1, the agent runs in us-east-1/ })
  })

  let replicaId = ''
  const key = randomUUID()
  await t.test('create a replica; a retry with the same Idempotency-Key is a no-op', async (t) => {
    const r = await createReplica({ poolId: POOL_C }, { 'idempotency-key': key })
    t.equal(r.statusCode, 201)
    replicaId = r.json().id
    t.match(r.json(), { id: String, agentId, poolId: POOL_C, replicaType: 'manual', status: 'launching', createdBy: 'user' })
    const again = await createReplica({ poolId: POOL_C }, { 'idempotency-key': key })
    t.equal(again.statusCode, 201)
    t.equal(again.json().id, replicaId, 'the retry answers with the first replica')
    const reps = await rows<any>(db, `SELECT id FROM replica_instances WHERE agent_id = '${agentId}' AND status = 'launching'`)
    t.same(reps.map((x) => x.id), [replicaId])
    t.equal((await outbox()).filter((c) => c.type === 'command.launch_replica').length, 2, 'one launch command for the retried request')
    const listed = await call({ method: 'GET', url: `/api/agents/${agentId}/replicas` })
    t.same(listed.json().map((x: { id: string }) => x.id).sort(), [manualId, replicaId].sort())
    const reused = await call({ method: 'DELETE', url: `/api/agents/${agentId}/replicas/${replicaId}`, headers: { 'idempotency-key': key } })
    t.equal(reused.statusCode, 409, 'a key reused for another request conflicts')
    t.match(reused.json(), { error: 'conflict' })
  })

  await t.test('a rejected request retried with its key is rejected again, not re-applied', async (t) => {
    const k = randomUUID()
    const first = await createReplica({}, { 'idempotency-key': k })
    t.equal(first.statusCode, 409)
    const second = await createReplica({}, { 'idempotency-key': k })
    t.equal(second.statusCode, 409)
    t.equal(second.json().message, first.json().message)
    t.equal(second.json().rule, first.json().rule, 'the logged rejection\'s code, read back')
    t.equal(first.json().rule, 'replica_already_live')
    const [n] = await rows<{ n: number }>(db, `SELECT COUNT(*) AS n FROM event_log WHERE type = 'decision.rejected' AND cause_event_id = '${k}'`)
    t.equal(Number(n?.n), 1)
  })

  await t.test('promote: refused while launching, then the replica takes over', async (t) => {
    const url = `/api/agents/${agentId}/replicas/${replicaId}/promote`
    const early = await call({ method: 'POST', url })
    t.equal(early.statusCode, 409)
    t.match(early.json().message, /still launching/)
    for (const e of [
      newEvent('replica.launched', { clientId: client.id, agentId, data: { replicaId, instanceId: 'i-replica-1', poolId: POOL_C, replicaType: 'manual', hourlyCost: '0.032' } }),
      newEvent('replica.ready', { clientId: client.id, agentId, data: { replicaId } }),
    ]) t.match(await submitInput(db, e, handlers), { rejection: null })
    const r = await call({ method: 'POST', url })
    t.equal(r.statusCode, 200)
    t.match(r.json(), { id: replicaId, status: 'promoted', instanceId: 'i-replica-1', hourlyCost: 0.032 })
    const [agent] = (await call({ method: 'GET', url: `/api/client/${client.id}/agents` })).json()
    t.match(agent, { instanceId: 'i-replica-1', currentPoolId: POOL_C, currentReplicaId: null })
    t.equal((await outbox()).at(-1)?.type, 'command.promote_replica')
    const [sw] = await rows<any>(db, `SELECT * FROM instance_switches WHERE agent_id = '${agentId}'`)
    t.match(sw, { old_instance_id: 'i-primary', new_instance_id: 'i-replica-1', reason: 'manual-replica-promotion' })
    t.equal((await call({ method: 'POST', url })).statusCode, 409, 'a promoted replica cannot be promoted again')
  })

  await t.test('delete: a live replica is terminated; a dead or unknown one is not', async (t) => {
    const created = await createReplica()
    t.equal(created.statusCode, 201)
    const id = created.json().id
    const url = `/api/agents/${agentId}/replicas/${id}`
    const r = await call({ method: 'DELETE', url })
    t.equal(r.statusCode, 200)
    t.match(r.json(), { id, status: 'terminated', terminationReason: 'user-requested' })
    t.same((await outbox()).at(-1)?.type, 'command.terminate_replica')
    const again = await call({ method: 'DELETE', url })
    t.equal(again.statusCode, 409)
    t.match(again.json().message, /terminated, not live/)
    t.equal((await call({ method: 'DELETE', url: `/api/agents/${agentId}/replicas/${randomUUID()}` })).statusCode, 404)
    const [otherReplica] = await rows<any>(db, `SELECT id FROM replica_instances WHERE agent_id = '${agentId}' LIMIT 1`)
    t.equal((await call({ method: 'DELETE', url: `/api/agents/${otherAgentId}/replicas/${otherReplica.id}` })).statusCode, 404)
  })

  await t.test('every HTTP command is in event_log with source http', async (t) => {
    const logged = await rows<{ type: string }>(db, `SELECT type FROM event_log WHERE source = 'http' AND agent_id = '${agentId}' AND type NOT IN ('agent.registered', 'replica.launched', 'replica.ready') ORDER BY seq`)
    t.same(logged.map((l) => l.type), [
      'agent.config_changed', // manual on
      'user.replica_create_requested', // refused: one live
      'agent.config_changed', // auto on
      'user.replica_create_requested', // refused: pool of another instance type
      'user.replica_create_requested', // refused: pool of another region
      'user.replica_create_requested', // with key (the retry is not logged again)
      'user.replica_create_requested', // refused, with key
      'user.replica_promote_requested', // refused: launching
      'user.replica_promote_requested',
      'user.replica_promote_requested', // refused: promoted
      'user.replica_create_requested',
      'user.replica_delete_requested',
      'user.replica_delete_requested', // refused: terminated
    ])
    const [keyed] = await rows<any>(db, `SELECT source, type FROM event_log WHERE event_id = '${key}'`)
    t.same(keyed, { source: 'http', type: 'user.replica_create_requested' })
  })
})

t.test('sync status reported over HTTP goes through the same rules as over Kafka', async (t) => {
  const { app, db, client, handlers } = await buildApp(t)
  const agentId = randomUUID()
  await seed(db, handlers, client.id, agentId)
  const auth = { authorization: `Bearer ${client.token}` }
  const created = await app.inject({ method: 'POST', url: `/api/agents/${agentId}/replicas`, headers: auth, payload: {} })
  t.equal(created.statusCode, 201)
  const replicaId: string = created.json().id
  t.match(await submitInput(db, newEvent('replica.launched', { clientId: client.id, agentId, data: { replicaId, instanceId: 'i-replica-9', poolId: created.json().poolId, replicaType: 'manual', hourlyCost: '0.03' } }), handlers), { rejection: null })

  const url = `/api/agents/${agentId}/replicas/${replicaId}/sync-status`
  const bad = await app.inject({ method: 'POST', url, headers: auth, payload: { syncStatus: 'syncing', syncLatencyMs: 5, stateTransferProgress: 150 } })
  t.equal(bad.statusCode, 400)
  t.match(bad.json(), { error: 'validation', issues: [{ path: ['body', 'stateTransferProgress'] }] })

  const r = await app.inject({ method: 'POST', url, headers: auth, payload: { syncStatus: 'syncing', syncLatencyMs: 120, stateTransferProgress: 40 } })
  t.equal(r.statusCode, 200)
  t.match(r.json(), { id: replicaId, status: 'syncing', syncStatus: 'syncing', syncLatencyMs: 120, stateTransferProgress: 40 })
  const [logged] = await rows<{ n: number }>(db, `SELECT COUNT(*) AS n FROM event_log WHERE type = 'replica.sync_progress' AND source = 'http' AND agent_id = '${agentId}'`)
  t.equal(Number(logged?.n), 1, 'logged as an http event')

  t.equal((await app.inject({ method: 'DELETE', url: `/api/agents/${agentId}/replicas/${replicaId}`, headers: auth })).statusCode, 200)
  const late = await app.inject({ method: 'POST', url, headers: auth, payload: { syncStatus: 'synced', syncLatencyMs: 10, stateTransferProgress: 100 } })
  // The agent sent it before it heard the replica was ended: older news, accepted, and it changes nothing.
  t.equal(late.statusCode, 200, 'a report for a replica that has ended is accepted')
  t.match(late.json(), { id: replicaId, status: 'terminated', syncStatus: 'syncing', stateTransferProgress: 40 }, 'and changes nothing')
  const bogus = await app.inject({ method: 'POST', url: `/api/agents/${agentId}/replicas/${randomUUID()}/sync-status`, headers: auth, payload: { syncStatus: 'synced', syncLatencyMs: 10, stateTransferProgress: 100 } })
  t.equal(bogus.statusCode, 404, 'a report for a replica that never existed is not')
})
