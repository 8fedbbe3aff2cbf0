// The response cache of the Replicas tab and the price history: two app
// instances on one database (two `serve` processes), each with its own
// cache. A change committed through either door (HTTP on one instance, the
// consumer's applyBatch) is in the very next answer of both; an unchanged
// answer comes from the cache with the same ETag, If-None-Match answers 304,
// gzip is served to clients that accept it, a replay's swap rebuilds them, and
// concurrent misses build once.
import { gunzipSync } from 'node:zlib'
import Fastify, { type FastifyInstance } from 'fastify'
import t from 'tap'
import { app as appPlugin } from '../../src/app.js'
import { createClient } from '../../src/clients/client.repository.js'
import { newEvent } from '../../src/events/producer.js'
import { Metrics } from '../../src/metrics.js'
import { replayFromLog } from '../../src/replay/from-log.js'
import { OPERATOR_TOKEN, buildApp } from '../helper-app.js'
import { POOLS, feed, prices, seedFleet } from './fixtures/fleet.js'

t.test('two instances, one database: every committed change is in the next answer', async (t) => {
  const { app: a, db, client, handlers, metrics: metricsA } = await buildApp(t)
  const metricsB = new Metrics()
  const b: FastifyInstance = Fastify({ logger: false })
  await b.register(appPlugin, { db, metrics: metricsB, pipeline: handlers, consumerReady: () => true, operatorToken: OPERATOR_TOKEN, checkResponses: true })
  await b.ready()
  t.teardown(() => b.close())
  const fleet = await seedFleet(db, handlers, client.id, 'rc')
  const headers = { authorization: `Bearer ${client.token}` }
  const replicas = `/api/client/${client.id}/replicas`
  const get = (app: FastifyInstance, url: string, extra: Record<string, string> = {}) => app.inject({ url, headers: { ...headers, ...extra } })
  const results = (m: Metrics, route: string) => ({
    hit: m.responseCache.get({ route, result: 'hit' }), miss: m.responseCache.get({ route, result: 'miss' }), shared: m.responseCache.get({ route, result: 'shared' }),
  })
  const route = '/api/client/:clientId/replicas'

  await t.test('an unchanged answer is served again from the cache, with its ETag', async (t) => {
    const first = await get(a, replicas)
    t.equal(first.statusCode, 200)
    t.same(first.json(), [], 'the failover promoted the only replica')
    const again = await get(a, replicas)
    t.equal(again.headers.etag, first.headers.etag)
    t.equal(again.headers['cache-control'], 'private, no-cache', 'browsers revalidate, shared caches keep nothing')
    t.equal(again.body, first.body)
    t.match(results(metricsA, route), { miss: 1, hit: 1 })
    const unchanged = await get(a, replicas, { 'if-none-match': String(first.headers.etag) })
    t.equal(unchanged.statusCode, 304)
    t.equal(unchanged.body, '')
    t.equal((await get(b, replicas)).headers.etag, first.headers.etag, 'the other instance builds the same body')
  })

  await t.test('gzip for clients that accept it: the same JSON, its own ETag', async (t) => {
    await b.inject({ method: 'POST', url: `/api/agents/${fleet.agentId}/replicas`, headers, payload: {} }) // a body that is not []
    const plain = await get(a, replicas)
    const zipped = await get(a, replicas, { 'accept-encoding': 'gzip, deflate, br' })
    t.equal(zipped.headers['content-encoding'], 'gzip')
    t.match(zipped.headers.vary, /accept-encoding/)
    t.equal(gunzipSync(zipped.rawPayload).toString(), plain.body)
    t.not(zipped.headers.etag, plain.headers.etag)
    t.equal((await get(a, replicas, { 'accept-encoding': 'gzip', 'if-none-match': String(zipped.headers.etag) })).statusCode, 304)
    t.equal((await get(a, replicas, { 'accept-encoding': 'gzip;q=0' })).headers['content-encoding'], undefined, 'q=0 refuses it')
    t.equal((await get(a, replicas, { 'if-none-match': String(zipped.headers.etag) })).statusCode, 200, 'not the identity body\'s tag')
  })

  await t.test('a replica created over HTTP on B is in A\'s next answer', async (t) => {
    const before = await get(a, replicas)
    const [live] = before.json()
    const deleted = await b.inject({ method: 'DELETE', url: `/api/agents/${fleet.agentId}/replicas/${live.replica.id}`, headers })
    t.equal(deleted.statusCode, 200)
    t.same((await get(a, replicas)).json(), [], 'the deleted replica is gone at once')
    const created = await b.inject({ method: 'POST', url: `/api/agents/${fleet.agentId}/replicas`, headers, payload: {} })
    t.equal(created.statusCode, 201)
    const after = await get(a, replicas)
    t.equal(after.statusCode, 200)
    t.match(after.json(), [{ agentId: fleet.agentId, replica: { id: created.json().id, status: 'launching' } }])
    t.not(after.headers.etag, before.headers.etag)
    const stale = await get(a, replicas, { 'if-none-match': String(before.headers.etag) })
    t.equal(stale.statusCode, 200, 'the old ETag no longer matches')
    t.equal(stale.body, after.body)
    t.equal((await get(b, replicas)).body, after.body, 'B answers the same')
  })

  await t.test('a change consumed from Kafka (applyBatch) is in both instances\' next answer', async (t) => {
    const [live] = (await get(a, replicas)).json()
    await get(b, replicas)
    const replicaId: string = live.replica.id
    await feed(db, handlers, 'replica-events', [
      newEvent('replica.launched', { clientId: client.id, agentId: fleet.agentId, data: { replicaId, instanceId: 'i-rc-3', poolId: live.replica.pool.name, replicaType: 'manual', hourlyCost: '0.0315' } }),
      newEvent('replica.sync_progress', { clientId: client.id, agentId: fleet.agentId, data: { replicaId, syncStatus: 'syncing', syncLatencyMs: 80, stateTransferProgress: 55 } }),
    ])
    for (const app of [a, b]) {
      t.match((await get(app, replicas)).json(), [{ replica: { id: replicaId, instanceId: 'i-rc-3', status: 'syncing', sync_latency_ms: 80, state_transfer_progress: 55, cost: { hourly: 0.0315 } } }])
    }
  })

  await t.test('price history: a new price consumed is in the next answer; another client\'s token sees nothing', async (t) => {
    const url = `/api/client/instances/${fleet.instanceId}/price-history?days=1&interval=hour`
    const before = await get(a, url)
    t.equal(before.statusCode, 200)
    t.equal((await get(a, url)).headers.etag, before.headers.etag, 'cached')
    await get(b, url)
    await prices(db, handlers, client.id, new Date(), ['0.011', '0.012', '0.013'])
    for (const app of [a, b]) {
      const after = await get(app, url)
      t.not(after.headers.etag, before.headers.etag)
      const last = after.json().data.at(-1)
      const key = after.json().pools.find((p: { id: string }) => p.id === POOLS[0]).key
      t.ok(last[key] < before.json().data.at(-1)[key], 'the current hour\'s average went down')
    }
    const op = await a.inject({ url, headers: { authorization: `Bearer ${OPERATOR_TOKEN}` } })
    t.equal(op.body, (await get(a, url)).body, 'the operator (uncached) reads the same')
    const otherToken = (await createClient(db, 'other')).token
    t.equal((await a.inject({ url, headers: { authorization: `Bearer ${otherToken}` } })).statusCode, 404)
    t.equal((await a.inject({ url: replicas, headers: { authorization: `Bearer ${otherToken}` } })).statusCode, 404)
  })

  await t.test('a replay that swaps rebuilt tables in makes every cached answer be built again', async (t) => {
    const url = `/api/client/instances/${fleet.instanceId}/price-history?days=1&interval=hour`
    const before = await get(a, url)
    const misses = results(metricsA, '/api/client/instances/:instanceId/price-history').miss
    await replayFromLog(db, { projections: handlers.projections })
    const after = await get(a, url)
    t.equal(results(metricsA, '/api/client/instances/:instanceId/price-history').miss, misses + 1, 'built again from the swapped-in tables')
    t.equal(after.body, before.body, 'the rebuilt tables give the same answer')
  })

  await t.test('ten concurrent misses build once', async (t) => {
    const url = `/api/client/instances/${fleet.instanceId}/price-history?days=3&interval=day`
    const before = results(metricsB, '/api/client/instances/:instanceId/price-history')
    const answers = await Promise.all(Array.from({ length: 10 }, () => get(b, url)))
    t.same(new Set(answers.map((r) => r.statusCode)), new Set([200]))
    t.equal(new Set(answers.map((r) => r.body)).size, 1)
    const r = results(metricsB, '/api/client/instances/:instanceId/price-history')
    t.equal(r.miss - before.miss, 1, 'one build')
    t.equal(r.shared + r.hit - (before.shared + before.hit), 9, 'nine answered by it')
  })
})
