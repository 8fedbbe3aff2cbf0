// Tenant isolation, table-driven over every client route: with client A's
// token, client B's client id, agent id, instance id or replica id is a 404
// that carries none of B's data, and B's log receives nothing. The table is
// checked against the OpenAPI document, so a new client route without a row
// here fails this test.
import type { InjectOptions } from 'fastify'
import { sql } from 'kysely'
import t from 'tap'
import type { Fleet } from './fixtures/fleet.js'
import { twoClients } from './fixtures/two-clients.js'

/**
 * `kind`: `ids` (default) names another client's ids in the path: 404; `scoped` names none: the answer
 * (the console's lists and figures) holds only the token's own client; `manage` is client management: 403.
 */
interface Row { method: InjectOptions['method'], path: string, url: (f: Fleet) => string, payload?: object, kind?: 'ids' | 'scoped' | 'manage' }

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
  { method: 'POST', path: '/api/client/agents/{agentId}/toggle-enabled', url: (f) => `/api/client/agents/${f.agentId}/toggle-enabled`, payload: { enabled: true } },
  { method: 'POST', path: '/api/client/agents/{agentId}/settings', url: (f) => `/api/client/agents/${f.agentId}/settings`, payload: { auto_terminate_enabled: true } },
  { method: 'GET', path: '/api/client/{clientId}', url: (f) => `/api/client/${f.clientId}` },
  { method: 'GET', path: '/api/client/{clientId}/instances', url: (f) => `/api/client/${f.clientId}/instances` },
  { method: 'GET', path: '/api/client/{clientId}/agents/decisions', url: (f) => `/api/client/${f.clientId}/agents/decisions` },
  { method: 'GET', path: '/api/client/instances/{instanceId}/available-options', url: (f) => `/api/client/instances/${f.instanceId}/available-options` },
  { method: 'POST', path: '/api/client/instances/{instanceId}/force-switch', url: (f) => `/api/client/instances/${f.instanceId}/force-switch`, payload: { target: 'ondemand' } },
  { method: 'POST', path: '/api/notifications/{id}/mark-read', url: (f) => `/api/notifications/${f.notificationId}/mark-read` },
  { method: 'GET', path: '/api/notifications', url: () => '/api/notifications', kind: 'scoped' },
  { method: 'POST', path: '/api/notifications/mark-all-read', url: () => '/api/notifications/mark-all-read', payload: {}, kind: 'scoped' },
  { method: 'GET', path: '/api/admin/stats', url: () => '/api/admin/stats', kind: 'scoped' },
  { method: 'GET', path: '/api/admin/clients', url: () => '/api/admin/clients', kind: 'scoped' },
  { method: 'GET', path: '/api/admin/clients/growth', url: () => '/api/admin/clients/growth', kind: 'scoped' },
  { method: 'GET', path: '/api/admin/activity', url: () => '/api/admin/activity', kind: 'scoped' },
  { method: 'GET', path: '/api/admin/agents', url: () => '/api/admin/agents', kind: 'scoped' },
  { method: 'GET', path: '/api/admin/instances', url: () => '/api/admin/instances', kind: 'scoped' },
  { method: 'POST', path: '/api/admin/clients/create', url: () => '/api/admin/clients/create', payload: { name: 'x' }, kind: 'manage' },
  { method: 'DELETE', path: '/api/admin/clients/{clientId}', url: (f) => `/api/admin/clients/${f.clientId}`, kind: 'manage' },
  { method: 'POST', path: '/api/admin/clients/{clientId}/regenerate-token', url: (f) => `/api/admin/clients/${f.clientId}/regenerate-token`, kind: 'manage' },
  { method: 'GET', path: '/api/admin/clients/{clientId}/token', url: (f) => `/api/admin/clients/${f.clientId}/token`, kind: 'manage' },
]

/** Routes every client can read (no client's ids in them). */
const SHARED = new Set([
  'GET /api/pools/reliability', 'GET /api/admin/system-health', 'GET /api/admin/ml-models/sessions',
  ...['ml-models/upload', 'ml-models/activate', 'ml-models/fallback', 'decision-engine/upload', 'decision-engine/activate'].map((p) => `POST /api/admin/${p}`),
])

t.test('another client\'s ids are a 404, never data', async (t) => {
  const { app, db, client, other, mine, theirs } = await twoClients(t, { savingsDays: [3, 3] })

  const doc = (await app.inject('/docs/json')).json() as { paths: Record<string, Record<string, unknown>> }
  const documented = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`))
    .filter((r) => / \/api\//.test(r) && !/ \/api\/operator\//.test(r) && !SHARED.has(r))
  t.same(documented.sort(), ROUTES.map((r) => `${r.method} ${r.path}`).sort(), 'the table covers every client route')

  const theirLog = async () => Number((await sql<{ n: number }>`SELECT COUNT(*) AS n FROM event_log WHERE client_id = ${other.id}`.execute(db)).rows[0]?.n)
  const before = await theirLog()
  const secrets = [other.id, theirs.agentId, theirs.instanceId, theirs.firstInstanceId, theirs.replicaId, 'web-theirs', theirs.notificationId]
  for (const r of ROUTES) {
    const call = (f: Fleet) => app.inject({ method: r.method, url: r.url(f), headers: { authorization: `Bearer ${client.token}` }, ...(r.payload ? { payload: r.payload } : {}) })
    if (r.kind === 'scoped') {
      const own = await call(mine)
      t.equal(own.statusCode, 200, `${r.method} ${r.path} answers`)
      t.notOk(secrets.some((s) => own.body.includes(s)), `${r.method} ${r.path}: nothing of theirs in the client's console`)
      continue
    }
    if (r.kind === 'manage') {
      for (const f of [theirs, mine]) {
        const refused = await call(f)
        t.equal(refused.statusCode, 403, `${r.method} ${r.path} with a client token is refused`)
        t.notOk(secrets.some((s) => refused.body.includes(s)), `${r.method} ${r.path}: nothing of theirs in the refusal`)
      }
      continue
    }
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
