// Switch history (failovers included) and interruptions: the UI's fields,
// newest first, cursor + limit pages that neither repeat nor skip, the
// instance filter, and validation of the page parameters.
import t from 'tap'
import { buildApp } from '../helper-app.js'
import { seedFleet } from './fixtures/fleet.js'

t.test('history lists', async (t) => {
  const { app, db, client, handlers } = await buildApp(t)
  const fleet = await seedFleet(db, handlers, client.id, 'h')
  const get = (url: string) => app.inject({ url, headers: { authorization: `Bearer ${client.token}` } })

  await t.test('switch history includes the failover, in the UI\'s fields', async (t) => {
    const r = await get(`/api/client/${client.id}/switch-history`)
    t.equal(r.statusCode, 200)
    t.match(r.json(), [{
      id: Number, timestamp: String, instanceId: fleet.instanceId, oldInstanceId: fleet.firstInstanceId, fromPool: 'm5.large.us-east-1a',
      toPool: 'm5.large.us-east-1b', trigger: 'termination-notice', reason: 'automatic-interruption-failover', fromMode: 'spot', toMode: 'spot', price: 0.031,
    }])
    t.equal(r.headers['x-next-cursor'], undefined, 'one page only')
    t.equal((await get(`/api/client/${client.id}/switch-history?instance_id=${fleet.firstInstanceId}`)).json().length, 1, 'filter on the old instance')
    t.same((await get(`/api/client/${client.id}/switch-history?instance_id=i-unknown`)).json(), [])
  })

  await t.test('interruptions with their response', async (t) => {
    const r = await get(`/api/client/${client.id}/interruptions`)
    t.equal(r.statusCode, 200)
    t.match(r.json(), [
      { signalType: 'termination-notice', responseAction: 'failover', replicaId: fleet.replicaId, instanceId: fleet.firstInstanceId, success: true, responseTimeMs: Number },
      { signalType: 'rebalance-recommendation', responseAction: 'replica-created', replicaId: fleet.replicaId },
    ])
  })

  await t.test('pages: cursor + limit, newest first, nothing repeated or skipped', async (t) => {
    // 25 more signals on one agent at distinct and equal times (ties broken by id).
    const base = Date.now() - 3_600_000
    await db.insertInto('spot_interruption_events').values(Array.from({ length: 25 }, (_, i) => ({
      client_id: client.id, agent_id: fleet.agentId, signal_type: 'rebalance-recommendation' as const,
      detected_at: new Date(base + Math.floor(i / 2) * 1000), response_action: 'no-action',
    }))).execute()
    const all = (await get(`/api/client/${client.id}/interruptions?limit=500`)).json() as { id: number, detectedAt: string }[]
    t.equal(all.length, 27)
    const seen: number[] = []
    let url = `/api/client/${client.id}/interruptions?limit=4`
    for (let pages = 0; pages < 20; pages++) {
      const r = await get(url)
      t.equal(r.statusCode, 200)
      seen.push(...r.json().map((x: { id: number }) => x.id))
      const next = r.headers['x-next-cursor']
      if (typeof next !== 'string') break
      url = `/api/client/${client.id}/interruptions?limit=4&cursor=${next}`
    }
    t.same(seen, all.map((x) => x.id), 'the pages are the whole list in order')
    const sorted = [...all].sort((a, b) => b.detectedAt.localeCompare(a.detectedAt) || b.id - a.id)
    t.same(all.map((x) => x.id), sorted.map((x) => x.id), 'newest first, ties by id')
  })

  await t.test('bad page parameters are a 400', async (t) => {
    for (const q of ['limit=0', 'limit=501', 'limit=x', 'cursor=nope', `cursor=${Buffer.from('[1,2]').toString('base64url')}`]) {
      const r = await get(`/api/client/${client.id}/interruptions?${q}`)
      t.equal(r.statusCode, 400, q)
      t.match(r.json(), { error: 'validation', issues: [{ path: ['query', String] }] })
    }
  })
})
