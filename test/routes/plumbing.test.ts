// The HTTP plumbing on a real app: the OpenAPI document and Swagger UI at
// /docs, CORS preflights (a configured origin is answered, any other is
// refused), the per-token rate limit, Prometheus metrics with HTTP latency,
// and unknown routes in the error shape.
import t from 'tap'
import { createClient } from '../../src/clients/client.repository.js'
import { buildApp } from '../helper-app.js'

const UI = 'http://localhost:5173'

t.test('OpenAPI at /docs, generated from the route schemas', async (t) => {
  const { app } = await buildApp(t)
  const ui = await app.inject('/docs/')
  t.equal(ui.statusCode, 200)
  t.match(ui.headers['content-type'], /text\/html/)
  const doc = (await app.inject('/docs/json')).json()
  t.match(doc, { openapi: /^3\./, info: { title: 'spotfleet' } })
  const agents = doc.paths['/api/client/{clientId}/agents'].get
  t.match(agents.parameters, [{ in: 'path', name: 'clientId', required: true }])
  t.match(agents.responses['200'].content['application/json'].schema, { type: 'array', items: { properties: { auto_switch_enabled: { type: 'boolean' }, instanceCount: {} } } })
  const config = doc.paths['/api/client/agents/{agentId}/config'].post
  t.match(config.requestBody.content['application/json'].schema.properties, { terminateWaitMinutes: { maximum: 1440 } })
  t.notOk(doc.paths['/metrics'], 'metrics is not part of the API document')
})

t.test('CORS: preflight answered for configured origins only', async (t) => {
  const { app, client } = await buildApp(t, { corsOrigins: [UI] })
  const preflight = (origin: string) => app.inject({
    method: 'OPTIONS', url: `/api/client/${client.id}/agents`,
    headers: { origin, 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization,idempotency-key' },
  })
  const ok = await preflight(UI)
  t.equal(ok.statusCode, 204)
  t.equal(ok.headers['access-control-allow-origin'], UI)
  t.match(ok.headers['access-control-allow-headers'], /authorization/)
  t.match(ok.headers['access-control-allow-methods'], /POST/)
  const refused = await preflight('http://evil.example')
  t.equal(refused.statusCode, 404, 'an unknown origin gets no preflight answer')
  t.notOk(refused.headers['access-control-allow-origin'])
  const get = await app.inject({ url: `/api/client/${client.id}/agents`, headers: { origin: UI, authorization: `Bearer ${client.token}` } })
  t.equal(get.statusCode, 200)
  t.equal(get.headers['access-control-allow-origin'], UI)
  t.match(get.headers['access-control-expose-headers'], /x-next-cursor/)

  const { app: closed } = await buildApp(t)
  const none = await closed.inject({ method: 'OPTIONS', url: '/healthz', headers: { origin: UI, 'access-control-request-method': 'GET' } })
  t.notOk(none.headers['access-control-allow-origin'], 'no origins configured: none allowed')
})

t.test('rate limit per token', async (t) => {
  const { app, db, client } = await buildApp(t, { rateLimit: { max: 3, timeWindowMs: 60_000 } })
  const other = await createClient(db, 'other')
  const get = (token: string) => app.inject({ url: `/api/client/${client.id}/agents`, headers: { authorization: `Bearer ${token}` } })
  for (let i = 0; i < 3; i++) t.equal((await get(client.token)).statusCode, 200)
  const limited = await get(client.token)
  t.equal(limited.statusCode, 429)
  t.ok(limited.headers['retry-after'])
  t.match(limited.json(), { error: String, message: /rate limit/i })
  t.equal((await get(other.token)).statusCode, 404, "another token has its own budget (and another client's path is a 404)")
  t.equal((await app.inject('/healthz')).statusCode, 200, 'health is never limited')
})

t.test('metrics: prom-client text with HTTP latency by route', async (t) => {
  const { app, client, metrics } = await buildApp(t)
  await app.inject({ url: `/api/client/${client.id}/agents`, headers: { authorization: `Bearer ${client.token}` } })
  metrics.eventsConsumed.inc({ type: 'agent.heartbeat' }, 2)
  metrics.lag.set({ topic: 'agent-events', partition: '3' }, 17)
  const r = await app.inject('/metrics')
  t.equal(r.statusCode, 200)
  t.match(r.headers['content-type'], /text\/plain/)
  t.match(r.body, /spotfleet_http_request_duration_seconds_count\{method="GET",route="\/api\/client\/:clientId\/agents",status="200"\} 1/)
  t.match(r.body, /spotfleet_events_consumed_total\{type="agent.heartbeat"\} 2/)
  t.match(r.body, /spotfleet_consumer_lag\{topic="agent-events",partition="3"\} 17/)
  t.match(r.body, /spotfleet_emergency_snapshots_total 0/)
  t.match(r.body, /process_resident_memory_bytes/)
  // Every series issue 10 names, with what the consumer and the rules record in them.
  metrics.deadLetters.inc({ topic: 'replica-events' })
  metrics.failovers.inc()
  metrics.decisionSeconds.observe({}, 0.03)
  const after = (await app.inject('/metrics')).body
  t.match(after, /spotfleet_dead_letters_total\{topic="replica-events"\} 1/)
  t.match(after, /spotfleet_failovers_total 1/)
  t.match(after, /spotfleet_decision_latency_seconds_bucket\{le="0.05"\} 1/)
  t.match(after, /spotfleet_decision_latency_seconds_count 1/)
  t.match(after, /nodejs_eventloop_lag_seconds/)
})

t.test('errors: unknown routes and bad tokens in the error shape', async (t) => {
  const { app, client } = await buildApp(t)
  const missing = await app.inject('/api/nope')
  t.equal(missing.statusCode, 404)
  t.same(missing.json(), { error: 'not_found', message: 'Route GET /api/nope not found' })
  t.equal((await app.inject({ url: `/api/client/${client.id}/agents`, headers: { authorization: 'Basic abc' } })).statusCode, 401)
})
