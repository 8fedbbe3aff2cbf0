// HTTP bodies keep to the columns too: they are built from the wire's field
// schemas (src/events/limits.ts), so a value a column cannot hold is a 400
// with the zod issues, never a 500 from the database.
import { randomUUID } from 'node:crypto'
import t from 'tap'
import { submitInput } from '../../src/log/core.js'
import { newEvent } from '../../src/events/producer.js'
import { applyBatch } from '../../src/log/apply-batch.js'
import { buildApp } from '../helper-app.js'

t.test('sync-status, config and replica bodies beyond their columns are 400s with the issues', async (t) => {
  const { app, db, client, handlers } = await buildApp(t)
  const agentId = randomUUID()
  const snaps = ['a', 'b'].map((z) => newEvent('pricing.snapshot', {
    clientId: client.id, agentId: randomUUID(), data: {
      poolId: `m5.large.us-east-1${z}`, instanceType: 'm5.large', region: 'us-east-1', az: `us-east-1${z}`,
      spotPrice: '0.03', onDemandPrice: '0.096', observedAt: new Date().toISOString(), sourceType: 'agent',
    },
  }))
  await applyBatch(db, {
    topic: 'pricing-snapshots', partition: 0,
    messages: snaps.map((e, i) => ({ offset: String(i), key: null, value: Buffer.from(JSON.stringify(e)) })),
  }, handlers)
  await submitInput(db, newEvent('agent.registered', {
    clientId: client.id, agentId, data: {
      logicalAgentId: 'web-1', instanceId: 'i-primary', instanceType: 'm5.large', region: 'us-east-1', az: 'us-east-1a',
      mode: 'spot', hostname: 'ip-10-0-0-12', spotPrice: '0.0345', onDemandPrice: '0.096',
    },
  }), handlers)
  const headers = { authorization: `Bearer ${client.token}` }
  const created = await app.inject({ method: 'POST', url: `/api/agents/${agentId}/replicas`, headers, payload: { poolId: 'm5.large.us-east-1b' } })
  t.equal(created.statusCode, 201)
  const replicaId: string = created.json().id
  t.match(await submitInput(db, newEvent('replica.launched', {
    clientId: client.id, agentId, data: { replicaId, instanceId: 'i-replica', poolId: 'm5.large.us-east-1b', replicaType: 'manual', hourlyCost: '0.03' },
  }), handlers), { rejection: null })
  const url = `/api/agents/${agentId}/replicas/${replicaId}/sync-status`

  const tooSlow = await app.inject({ method: 'POST', url, headers, payload: { syncStatus: 'syncing', syncLatencyMs: 2 ** 31, stateTransferProgress: 40 } })
  t.equal(tooSlow.statusCode, 400, 'syncLatencyMs beyond INT')
  t.match(tooSlow.json(), { error: 'validation', issues: [{ path: ['body', 'syncLatencyMs'] }] })
  const intMax = await app.inject({ method: 'POST', url, headers, payload: { syncStatus: 'syncing', syncLatencyMs: 2 ** 31 - 1, stateTransferProgress: 40 } })
  t.equal(intMax.statusCode, 200, intMax.body)
  t.match(intMax.json(), { syncLatencyMs: 2 ** 31 - 1 })

  const wait = await app.inject({ method: 'POST', url: `/api/client/agents/${agentId}/config`, headers, payload: { terminateWaitMinutes: 2 ** 31 } })
  t.equal(wait.statusCode, 400)
  t.match(wait.json(), { error: 'validation', issues: [{ path: ['body', 'terminateWaitMinutes'] }] })
  const pool = await app.inject({ method: 'POST', url: `/api/agents/${agentId}/replicas`, headers, payload: { poolId: `m5.large.us-east-1-${'l'.repeat(20)}-1a` } })
  t.equal(pool.statusCode, 400, pool.body)
  t.match(pool.json(), { error: 'validation', issues: [{ path: ['body', 'poolId'] }] })
})
