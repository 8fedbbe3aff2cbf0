// Tenant isolation, table-driven over every client route: with client A's
// token, client B's client id, agent id, instance id or replica id is a 404
// that carries none of B's data, and B's log receives nothing. The table is
// checked against the OpenAPI document, so a new client route without a row
// here fails this test.
import type { InjectOptions } from 'fastify'
import { sql } from 'kysely'
import t from 'tap'
import { createClient } from '../../src/clients/client.repository.js'
import { buildApp } from '../helper-app.js'
import { type Fleet, seedFleet, seedSavings } from './fixtures/fleet.js'

interface Row { method: InjectOptions['method'], path: string, url: (f: Fleet) => string, payload?: object }

const ROUTES: Row[] = [
  { method: 'GET', path: '/api/client/{clientId}/agents', url: (f) => `/api/client/${f.clientId}/agents` },
  { method: 'GET', path: '/api/client/{clientId}/replicas', url: (f) => `/api/client/${f.clientId}/replicas` },
  { method: 'GET', path: '/api/client/{clientId}/switch-history', url: (f) => `/api/client/${f.clientId}/switch-history` },
  { method: 'GET', path: '/api/client/{clientId}/interruptions', url: (f) => `/api/client/${f.clientId}/interruptions` },
  { method: 'POST', path: '/api/client/agents/{agentId}/config', url: (f) => `/api/client/agents/${f.agentId}/config`, payload: { terminateWaitMinutes: 7 } },
  { method: 'GET', path: '/api/client/instances/{instanceId}/pricing', url: (f) => `/api/client/instances/${f.instanceId}/pricing` },
  { method: 'GET', path: '/api/client/instances/{instanceId}/metrics', url: (f) => `/api/client/instances/${f.instanceId}/metrics` },
  { method: 'GET', path: '/api/client/instances/{instanceId}/price-history', url: (f) => `/api/client/instances/${f.instanceId}/price-history?days=7&interval=hour` },
  { method: 'GET', path: '/api/client/{clientId}/savings', url: (f) => `/api/client/${f.clientId}/savings?range=daily` },
  { method: 'GET', path: '/api/client/{clientId}/stats/charts', url: (f) => `/api/client/${f.clientId}/stats/charts` },
  { method: 'GET', path: '/api/agents/{agentId}/replicas', url: (f) => `/api/agents/${f.agentId}/replicas` },
  { method: 'POST', path: '/api/agents/{agentId}/replicas', url: (f) => `/api/agents/${f.agentId}/replicas`, payload: {} },
  {
    method: 'POST', path: '/api/agents/{agentId}/replicas/{replicaId}/sync-status', url: (f) => `/api/agents/${f.agentId}/replicas/${f.replicaId}/sync-status`,
    payload: { syncStatus: 'synced', syncLatencyMs: 1, stateTransferProgress: 100 },
  },
  { method: 'POST', path: '/api/agents/{agentId}/replicas/{replicaId}/promote', url: (f) => `/api/agents/${f.agentId}/replicas/${f.replicaId}/promote` },
  { method: 'DELETE', path: '/api/agents/{agentId}/replicas/{replicaId}', url: (f) => `/api/agents/${f.agentId}/replicas/${f.replicaId}` },
]

/** Routes every client can read (no client's ids in them). */
const SHARED = new Set(['GET /api/pools/reliability'])

t.test('another client\'s ids are a 404, never data', async (t) => {
  const { app, db, client, handlers } = await buildApp(t)
  const other = await createClient(db, 'other client')
  const mine = await seedFleet(db, handlers, client.id, 'mine')
  const theirs = await seedFleet(db, handlers, other.id, 'theirs')
  await seedSavings(db, client.id, 3)
  await seedSavings(db, other.id, 3)

  const doc = (await app.inject('/docs/json')).json() as { paths: Record<string, Record<string, unknown>> }
  const documented = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`))
    .filter((r) => / \/api\//.test(r) && !/ \/api\/operator\//.test(r) && !SHARED.has(r))
  t.same(documented.sort(), ROUTES.map((r) => `${r.method} ${r.path}`).sort(), 'the table covers every client route')

  const theirLog = async () => Number((await sql<{ n: number }>`SELECT COUNT(*) AS n FROM event_log WHERE client_id = ${other.id}`.execute(db)).rows[0]?.n)
  const before = await theirLog()
  const secrets = [other.id, theirs.agentId, theirs.instanceId, theirs.firstInstanceId, theirs.replicaId, 'web-theirs']
  for (const r of ROUTES) {
    const call = (f: Fleet) => app.inject({ method: r.method, url: r.url(f), headers: { authorization: `Bearer ${client.token}` }, ...(r.payload ? { payload: r.payload } : {}) })
    const foreign = await call(theirs)
    t.equal(foreign.statusCode, 404, `${r.method} ${r.path} with another client's ids`)
    t.equal(foreign.json().error, 'not_found')
    const leaked = secrets.filter((s) => foreign.body.includes(s) && !r.url(theirs).includes(s))
    t.same(leaked, [], `${r.method} ${r.path}: nothing of theirs in the body`)
    const own = await call(mine)
    t.ok(own.statusCode < 500 && own.statusCode !== 404, `${r.method} ${r.path} with own ids answers (${own.statusCode})`)
    t.notOk(secrets.some((s) => own.body.includes(s)), `${r.method} ${r.path}: own answer has nothing of theirs`)
  }
  t.equal(await theirLog(), before, 'nothing reached the other client\'s log')
})
