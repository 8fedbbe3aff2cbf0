// The operator's console and the client view over app.inject on real
// MariaDB: one token, two scopes (OPERATOR_TOKEN sees every client and
// manages them; a client's token sees its own client only and is refused
// client management with 403), the admin pages' shapes, /health, the 501
// model routes, and the agent controls (toggle-enabled, settings) going
// through the agent rules with the config route's mutual exclusion.
import type { InjectOptions } from 'fastify'
import t from 'tap'
import { newEvent } from '../../src/events/producer.js'
import { submitInput } from '../../src/log/core.js'
import { OPERATOR_TOKEN, buildApp } from '../helper-app.js'
import { seedFleet } from './fixtures/fleet.js'
import { twoClients } from './fixtures/two-clients.js'

t.test('one token, two scopes', async (t) => {
  const { app, db, client, other, mine, theirs, as } = await twoClients(t, { savingsDays: [2, 3] })
  const op = as(OPERATOR_TOKEN)
  const own = as(client.token)

  t.equal((await app.inject('/api/admin/stats')).statusCode, 401, 'no token')
  t.equal((await as('sf_nope')('/api/admin/stats')).statusCode, 401, 'unknown token')

  const opStats = (await op('/api/admin/stats')).json()
  t.match(opStats, { totalAccounts: 2, agentsTotal: 2, poolsCovered: 3, totalSwitches: 2, modelSwitches: 2, manualSwitches: 0 })
  t.equal(opStats.totalSavings, 1.464 * 5, 'savings of every client')
  const ownStats = (await own('/api/admin/stats')).json()
  t.match(ownStats, { totalAccounts: 1, agentsTotal: 1, totalSwitches: 1 })
  t.equal(ownStats.totalSavings, 1.464 * 2, 'only its own fleet')

  const opClients = (await op('/api/admin/clients')).json()
  t.same(opClients.map((c: { id: string }) => c.id).sort(), [client.id, other.id].sort(), 'the operator lists every client')
  t.match(opClients.find((c: { id: string }) => c.id === client.id), { name: 'test client', status: 'active', instances: 1, agentsTotal: 1 })
  const ownClients = (await own('/api/admin/clients')).json()
  t.same(ownClients.map((c: { id: string }) => c.id), [client.id], 'a client token lists its own client only')

  t.equal((await op(`/api/client/${other.id}/agents`)).json()[0].id, theirs.agentId, 'the operator opens any client')
  t.equal((await own(`/api/client/${other.id}/agents`)).statusCode, 404, 'a client token does not')
  t.equal((await op(`/api/client/${other.id}`)).json().name, 'other client')
  t.equal((await op(`/api/client/${'0'.repeat(8)}-0000-4000-8000-000000000000`)).statusCode, 404, 'unknown client')

  // Client management: the operator only.
  for (const [method, url] of [['POST', '/api/admin/clients/create'], ['DELETE', `/api/admin/clients/${client.id}`],
    ['POST', `/api/admin/clients/${client.id}/regenerate-token`], ['GET', `/api/admin/clients/${client.id}/token`]] as const) {
    const r = await own({ method, url, ...(method === 'POST' ? { payload: { name: 'x' } } : {}) })
    t.equal(r.statusCode, 403, `${method} ${url} with a client token`)
    t.equal(r.json().error, 'forbidden')
  }
  const created = await op({ method: 'POST', url: '/api/admin/clients/create', payload: { name: 'Acme' } })
  t.equal(created.statusCode, 201)
  const acme = created.json().client
  t.match(acme, { name: 'Acme', token: /^sf_/ })
  t.equal((await as(acme.token)(`/api/client/${acme.id}`)).json().name, 'Acme', 'the new token works')
  t.equal((await op({ method: 'POST', url: '/api/admin/clients/create', payload: { name: '' } })).statusCode, 400)
  const view = (await op(`/api/admin/clients/${acme.id}/token`)).json()
  t.match(view, { retrievable: false, token: /Regenerate/ }, 'a stored token cannot be shown again: the answer says so')
  const rotated = (await op({ method: 'POST', url: `/api/admin/clients/${acme.id}/regenerate-token` })).json()
  t.not(rotated.token, acme.token)
  t.equal((await as(acme.token)(`/api/client/${acme.id}`)).statusCode, 401, 'the old token stops at once')
  t.equal((await as(rotated.token)(`/api/client/${acme.id}`)).statusCode, 200)
  t.equal((await op({ method: 'DELETE', url: `/api/admin/clients/${acme.id}` })).json().success, true)
  t.equal((await as(rotated.token)(`/api/client/${acme.id}`)).statusCode, 401, 'a deleted client\'s token stops')
  t.notOk((await op('/api/admin/clients')).json().some((c: { id: string }) => c.id === acme.id), 'and it leaves the list')
  t.equal((await op({ method: 'DELETE', url: `/api/admin/clients/${acme.id}` })).statusCode, 404, 'deleting twice')
  t.equal((await op({ method: 'POST', url: `/api/admin/clients/${acme.id}x/regenerate-token` })).statusCode, 400, 'not a uuid')

  const growth = (await op('/api/admin/clients/growth?days=7')).json()
  t.equal(growth.length, 7)
  t.match(growth.at(-1), { count: 3, new: 3, active: 2 }, 'three created today, one deleted')
  t.equal((await own('/api/admin/clients/growth?days=7')).json().at(-1).count, 1)
  t.equal((await op('/api/admin/clients/growth?days=0')).statusCode, 400)

  const activity = (await own('/api/admin/activity')).json()
  t.ok(activity.some((a: { type: string }) => a.type === 'switch') && activity.some((a: { type: string }) => a.type === 'event'), 'switches and signals')
  t.ok(activity.every((a: { text: string }) => !a.text.includes('theirs')), 'only its own')

  const agents = (await op('/api/admin/agents')).json()
  t.equal(agents.total, 2)
  t.match(agents.agents[0], { clientName: /client/, status: 'offline', hostname: /^ip-/ })
  t.equal((await op('/api/admin/agents?search=ip-mine')).json().total, 1)
  t.equal((await own('/api/admin/agents')).json().agents[0].id, mine.agentId)
  t.equal((await op('/api/admin/agents?status=bogus')).statusCode, 400)

  const instances = (await op('/api/admin/instances')).json()
  t.same(instances.instances.map((i: { id: string }) => i.id).sort(), ['i-mine-1', 'i-mine-2', 'i-theirs-1', 'i-theirs-2'])
  t.same((await op('/api/admin/instances?status=active&mode=spot')).json().instances.map((i: { id: string }) => i.id).sort(), ['i-mine-2', 'i-theirs-2'])
  t.equal((await op('/api/admin/instances?mode=ondemand')).json().total, 0)
  t.match((await own('/api/admin/instances?search=mine-1')).json(), { total: 1, instances: [{ status: 'terminated', poolId: 'm5.large.us-east-1a' }] })

  const health = (await op('/api/admin/system-health')).json()
  t.match(health, { status: 'healthy', database: true, decisionEngineStatus: { loaded: false }, modelStatus: { loaded: false, filesUploaded: 0 } })
  t.match((await app.inject('/health')).json(), { status: 'healthy', database: true, consumer: true })
  t.same((await op('/api/admin/ml-models/sessions')).json(), [])
  const upload = await op({ method: 'POST', url: '/api/admin/ml-models/upload', headers: { 'content-type': 'multipart/form-data; boundary=x' }, payload: '--x--' })
  t.equal(upload.statusCode, 501, 'model upload: not here')
  t.match(upload.json(), { error: 'not_implemented', message: /no decision engine/ })
  t.equal((await op({ method: 'POST', url: '/api/admin/decision-engine/upload' })).statusCode, 501)
})

t.test('client view and agent controls', async (t) => {
  const { app, db, client, handlers } = await buildApp(t)
  const f = await seedFleet(db, handlers, client.id, 'v')
  const call = (opts: InjectOptions | string) => {
    const o = typeof opts === 'string' ? { url: opts } : opts
    return app.inject({ ...o, headers: { authorization: `Bearer ${client.token}`, ...o.headers } })
  }
  const header = (await call(`/api/client/${client.id}`)).json()
  t.match(header, { id: client.id, name: 'test client', status: 'active', instances: 1, agentsTotal: 1 })

  const list = (await call(`/api/client/${client.id}/instances`)).json()
  t.match(list.find((i: { id: string }) => i.id === f.instanceId), { status: 'active', type: 'm5.large', mode: 'spot', spotPrice: 0.031, onDemandPrice: 0.096 })
  t.ok(list.find((i: { id: string }) => i.id === f.instanceId).lastSwitch, 'the failover put it in place')
  t.same((await call(`/api/client/${client.id}/instances?status=terminated`)).json().map((i: { id: string }) => i.id), [f.firstInstanceId])
  t.equal((await call(`/api/client/${client.id}/instances?mode=ondemand`)).json().length, 0)
  t.equal((await call(`/api/client/${client.id}/instances?status=gone`)).statusCode, 400)

  const decisions = (await call(`/api/client/${client.id}/agents/decisions`)).json()
  t.match(decisions, [{ agentId: f.agentId, agentName: 'ip-v', lastDecision: { type: 'switch_spot', elapsed: { unit: /sec|min/ } }, pricingHealth: { status: 'insufficient' } }])

  const options = (await call(`/api/client/instances/${f.instanceId}/available-options`)).json()
  t.equal(options.pools.length, 3)
  t.same(options.instanceTypes, ['m5.large'])
  t.equal(options.pools.filter((p: { current: boolean }) => p.current).length, 1)
  t.equal((await call('/api/client/instances/i-nope/available-options')).statusCode, 404)

  // Agent controls: the same rules as the config route.
  const settings = await call({ method: 'POST', url: `/api/client/agents/${f.agentId}/settings`, payload: { auto_switch_enabled: false } })
  t.equal(settings.statusCode, 200)
  t.match(settings.json(), { auto_switch_enabled: false, autoSwitchEnabled: false, enabled: true })
  t.equal((await call({ method: 'POST', url: `/api/client/agents/${f.agentId}/settings`, payload: {} })).statusCode, 400, 'nothing to set')
  t.equal((await call({ method: 'POST', url: `/api/client/agents/${f.agentId}/settings`, payload: { auto_switch_enabled: 'yes' } })).statusCode, 400)
  const manual = (await call({ method: 'POST', url: `/api/client/agents/${f.agentId}/config`, payload: { manualReplicaEnabled: true } })).json()
  t.match(manual, { manual_replica_enabled: true, auto_switch_enabled: false, replicaPending: false })
  t.ok(manual.currentReplicaId, 'manual mode launched a replica')
  const auto = (await call({ method: 'POST', url: `/api/client/agents/${f.agentId}/settings`, payload: { auto_switch_enabled: true } })).json()
  t.match(auto, { auto_switch_enabled: true, manual_replica_enabled: false, currentReplicaId: null }, 'auto on turns manual off and ends its replica')

  const off = await call({ method: 'POST', url: `/api/client/agents/${f.agentId}/toggle-enabled`, payload: { enabled: false } })
  t.match(off.json(), { enabled: false, auto_switch_enabled: true })
  t.equal((await call(`/api/client/${client.id}/agents`)).json()[0].enabled, false, 'the Agents tab reads it')
  // A disabled agent gets no automatic replica; a termination notice is still answered.
  await submitInput(db, newEvent('spot.rebalance_recommendation', { clientId: client.id, agentId: f.agentId, data: { instanceId: f.instanceId, poolId: 'm5.large.us-east-1b' } }), handlers)
  const agent = (await call(`/api/client/${client.id}/agents`)).json()[0]
  t.equal(agent.currentReplicaId, null, 'no replica for a disabled agent')
  t.equal((await call({ method: 'POST', url: `/api/client/agents/${f.agentId}/toggle-enabled`, payload: {} })).statusCode, 400)
  t.match((await call({ method: 'POST', url: `/api/client/agents/${f.agentId}/toggle-enabled`, payload: { enabled: true } })).json(), { enabled: true })
  const logged = await db.selectFrom('event_log').select(['source']).where('agent_id', '=', f.agentId).where('type', '=', 'agent.config_changed').execute()
  t.equal(logged.length, 5, 'each control is an agent.config_changed in the log')
  t.ok(logged.every((r) => r.source === 'http'))
})

t.test('notifications, force switch, pending manual replica', async (t) => {
  const { app, db, client, other, mine: f, theirs, as, handlers } = await twoClients(t, { tags: ['n', 'o'] })
  await db.insertInto('dead_letter_events').values({ topic: 'agent-events', reason: 'not JSON', raw_value: Buffer.from('{') }).execute()
  const op = as(OPERATOR_TOKEN)
  const own = as(client.token)

  // A termination notice with a ready replica: the notice and the failover, for the client's own agent only.
  const mine = (await own('/api/notifications?limit=50')).json()
  t.same(mine.map((n: { kind: string }) => n.kind).sort(), ['failover', 'termination-notice'])
  t.ok(mine.every((n: { clientId: string, isRead: boolean }) => n.clientId === client.id && !n.isRead))
  t.match(mine.find((n: { kind: string }) => n.kind === 'failover'), { severity: 'info', message: /Failover: i-n-1 replaced by replica i-n-2/ })
  const all = (await op('/api/notifications?limit=50')).json()
  t.equal(all.length, 5, 'the operator: both clients and the dead letter')
  t.match(all.find((n: { kind: string }) => n.kind === 'dead-letter'), { severity: 'error', message: /not JSON/, clientId: null })
  t.equal((await op(`/api/notifications?client_id=${other.id}`)).json().length, 2, 'one client\'s, for the operator')
  t.equal((await own(`/api/notifications?client_id=${other.id}`)).statusCode, 404, 'another client\'s, for a client token')
  t.equal((await own('/api/notifications?limit=0')).statusCode, 400)

  t.equal((await own({ method: 'POST', url: `/api/notifications/${f.notificationId}/mark-read` })).statusCode, 200)
  t.equal((await own({ method: 'POST', url: `/api/notifications/${theirs.notificationId}/mark-read` })).statusCode, 404, 'not theirs')
  t.equal((await own({ method: 'POST', url: '/api/notifications/dead-letter:1/mark-read' })).statusCode, 404, 'dead letters are the operator\'s')
  t.equal((await own('/api/notifications')).json().filter((n: { isRead: boolean }) => n.isRead).length, 1)
  // The UI sends Content-Type: application/json with an empty body, or {client_id: null}.
  const markAll = await own({ method: 'POST', url: '/api/notifications/mark-all-read', headers: { 'content-type': 'application/json' } })
  t.equal(markAll.statusCode, 200, markAll.body)
  t.match(markAll.json(), { success: true, marked: 1 })
  t.match((await op({ method: 'POST', url: '/api/notifications/mark-all-read', payload: { client_id: null } })).json(), { marked: 3 }, 'theirs and the dead letter')
  t.ok((await op('/api/notifications')).json().every((n: { isRead: boolean }) => n.isRead))

  // Force switch: a command through the rules.
  const toPool = await own({ method: 'POST', url: `/api/client/instances/${f.instanceId}/force-switch`, payload: { target: 'pool', pool_id: 'm5.large.us-east-1c' } })
  t.equal(toPool.statusCode, 202)
  t.match(toPool.json(), { queued: true, target: 'pool', poolId: 'm5.large.us-east-1c', agentId: f.agentId })
  const outbox = await db.selectFrom('outbox').select(['type', 'payload']).where('agent_id', '=', f.agentId).where('type', '=', 'command.switch_instance').execute()
  t.equal(outbox.length, 1, 'command.switch_instance for the agent')
  t.match(JSON.parse(outbox[0]!.payload), { data: { target: 'pool', poolId: 'm5.large.us-east-1c' } })
  const current = (await own(`/api/client/${client.id}/agents`)).json()[0].currentPoolId
  const same = await own({ method: 'POST', url: `/api/client/instances/${f.instanceId}/force-switch`, payload: { target: 'pool', pool_id: current } })
  t.equal(same.statusCode, 409, 'to the pool it runs in')
  t.match(same.json(), { error: 'rule_rejected', rule: 'already_there', message: /already runs in pool/ })
  const otherType = await own({ method: 'POST', url: `/api/client/instances/${f.instanceId}/force-switch`, payload: { target: 'pool', pool_id: 'c5.large.us-east-1a' } })
  t.match(otherType.json(), { error: 'rule_rejected', rule: 'pool_mismatch', message: /instance type/ })
  t.equal((await own({ method: 'POST', url: `/api/client/instances/${f.instanceId}/force-switch`, payload: { target: 'pool' } })).statusCode, 400, 'pool without pool_id')
  t.equal((await own({ method: 'POST', url: `/api/client/instances/${f.instanceId}/force-switch`, payload: { target: 'moon' } })).statusCode, 400)
  t.equal((await own({ method: 'POST', url: '/api/client/instances/i-nope/force-switch', payload: { target: 'ondemand' } })).statusCode, 404)
  t.equal((await own({ method: 'POST', url: `/api/client/instances/${f.instanceId}/force-switch`, payload: { target: 'ondemand' } })).statusCode, 202)

  // Manual mode before any other pool is known: pending, said so, and launched once a pool is known.
  const lonely = '3f1c2b8a-5d4e-4f6a-9b7c-1d2e3f4a5b6c'
  const ok = async (e: Parameters<typeof submitInput>[1]) => t.equal((await submitInput(db, e, handlers)).rejection, null, e.type)
  await ok(newEvent('agent.registered', {
    clientId: client.id, agentId: lonely, data: {
      logicalAgentId: 'lonely', instanceId: 'i-lonely', instanceType: 'r5.large', region: 'eu-west-1', az: 'eu-west-1a',
      mode: 'spot', hostname: 'lonely', spotPrice: '0.04', onDemandPrice: '0.126',
    },
  }))
  const pending = (await own({ method: 'POST', url: `/api/client/agents/${lonely}/config`, payload: { manualReplicaEnabled: true } })).json()
  t.match(pending, { manual_replica_enabled: true, replicaPending: true, currentReplicaId: null, message: /pending: no other pool/ })
  const heartbeat = () => newEvent('agent.heartbeat', {
    clientId: client.id, agentId: lonely, data: { status: 'online', instanceId: 'i-lonely', mode: 'spot', poolId: 'r5.large.eu-west-1a', spotPrice: '0.04', onDemandPrice: '0.126' },
  })
  await ok(heartbeat())
  t.equal((await db.selectFrom('agents').select('current_replica_id').where('id', '=', lonely).executeTakeFirstOrThrow()).current_replica_id, null, 'still no pool')
  t.ok((await own('/api/notifications?limit=50')).json().some((n: { kind: string }) => n.kind === 'replica-pending'), 'the bell says so')
  const { applyBatch } = await import('../../src/log/apply-batch.js')
  const snap = newEvent('pricing.snapshot', {
    clientId: client.id, agentId: lonely, data: {
      poolId: 'r5.large.eu-west-1b', instanceType: 'r5.large', region: 'eu-west-1', az: 'eu-west-1b', spotPrice: '0.05', onDemandPrice: '0.126',
      observedAt: new Date().toISOString(), sourceType: 'test',
    },
  })
  await applyBatch(db, { topic: 'pricing-snapshots', partition: 1, messages: [{ offset: '1', key: Buffer.from('p'), value: Buffer.from(JSON.stringify(snap)) }] }, handlers)
  await ok(heartbeat())
  const placed = await db.selectFrom('agents as a').innerJoin('replica_instances as r', 'r.id', 'a.current_replica_id')
    .select(['r.pool_id', 'r.replica_type', 'a.manual_replica_pending']).where('a.id', '=', lonely).executeTakeFirstOrThrow()
  t.same(placed, { pool_id: 'r5.large.eu-west-1b', replica_type: 'manual', manual_replica_pending: 0 }, 'launched at the next report once a pool is known')
  await ok(heartbeat())
  t.equal((await db.selectFrom('replica_instances').select('id').where('agent_id', '=', lonely).execute()).length, 1, 'once')

  // An agent gone silent (the offline sweep's decision) rings the bell too.
  const { sweepOffline } = await import('../../src/agent/offline-sweep.js')
  const { PROJECTIONS } = await import('../../src/wiring.js')
  const swept = await sweepOffline(db, { offlineSeconds: 60, projections: PROJECTIONS, now: () => new Date(Date.now() + 3_600_000) })
  t.ok(swept.length >= 1, 'agents marked offline')
  const silent = (await own('/api/notifications?limit=100')).json().filter((n: { kind: string }) => n.kind === 'agent-offline')
  t.equal(silent.length, swept.filter((d) => d.clientId === client.id).length, 'one notification per silent agent of the client')
  t.match(silent[0], { severity: 'warning', message: /Agent went silent/ })
})
