// The chart reads on data the real projections made (events through
// applyBatch and the agent rules): price history per pool in hour and day
// buckets with keys free of dots, savings per day, week and month,
// stats/charts, and the safest-pool ranking (any client's or the operator's
// token); their response shapes and 400s with the zod issues.
import { randomUUID } from 'node:crypto'
import { sql } from 'kysely'
import t from 'tap'
import { newEvent } from '../../src/events/producer.js'
import type { SpotEventInput } from '../../src/events/schemas.js'
import { OPERATOR_TOKEN, buildApp } from '../helper-app.js'
import { POOLS, feed, prices, seedFleet } from './fixtures/fleet.js'

const DAY = 86_400_000
const HOUR = 3_600_000

t.test('chart routes', async (t) => {
  const { app, db, client, handlers } = await buildApp(t)
  const fleet = await seedFleet(db, handlers, client.id, 'c')
  const get = (url: string, token = client.token) => app.inject({ url, headers: { authorization: `Bearer ${token}` } })

  // A second agent, registered at a UTC midnight 40 days ago, on constant prices: every full day costs
  // 24 h × 0.035 against 24 h × 0.096 on demand. Heartbeats every 6 hours carry the prices (cost intervals).
  const now = Date.now()
  const today = Math.floor(now / DAY) * DAY
  const start = today - 40 * DAY
  const agentId = randomUUID()
  const instanceId = 'i-c-long'
  const agentEvents: SpotEventInput[] = [newEvent('agent.registered', {
    clientId: client.id, agentId, occurredAt: new Date(start), data: {
      logicalAgentId: 'web-long', instanceId, instanceType: 'm5.large', region: 'us-east-1', az: 'us-east-1c',
      mode: 'spot', hostname: 'ip-long', spotPrice: '0.035', onDemandPrice: '0.096',
    },
  })]
  for (let at = start + 6 * HOUR; at < now - 60_000; at += 6 * HOUR) {
    agentEvents.push(newEvent('agent.heartbeat', {
      clientId: client.id, agentId, occurredAt: new Date(at),
      data: { status: 'online', instanceId, mode: 'spot', poolId: POOLS[2], spotPrice: '0.035', onDemandPrice: '0.096' },
    }))
  }
  await feed(db, handlers, 'agent-events', agentEvents)

  await t.test('price history: every pool of the instance type, hour buckets averaged, keys without dots', async (t) => {
    // Two snapshots in one hour 3 days ago (averaged), one 10 days ago (only in a 30-day window), and a pool of another type.
    const hourStart = Math.floor((now - 3 * DAY) / HOUR) * HOUR
    await prices(db, handlers, client.id, new Date(hourStart + 5 * 60_000), ['0.040', '0.050', '0.060'])
    await prices(db, handlers, client.id, new Date(hourStart + 35 * 60_000), ['0.042', '0.050', '0.061'])
    await prices(db, handlers, client.id, new Date(now - 10 * DAY), ['0.020', '0.021', '0.022'])
    await feed(db, handlers, 'pricing-snapshots', [newEvent('pricing.snapshot', {
      clientId: client.id, agentId: randomUUID(), occurredAt: new Date(now - DAY), data: {
        poolId: 'c5.xlarge.us-east-1a', instanceType: 'c5.xlarge', region: 'us-east-1', az: 'us-east-1a',
        spotPrice: '0.07', onDemandPrice: '0.17', observedAt: new Date(now - DAY).toISOString(), sourceType: 'agent',
      },
    })])

    const r = await get(`/api/client/instances/${fleet.instanceId}/price-history?days=7&interval=hour`)
    t.equal(r.statusCode, 200)
    const body = r.json() as { data: Record<string, unknown>[], pools: { id: string, name: string, az: string, key: string }[], onDemandPrice: number }
    t.same(body.pools.map((p) => p.id), [...POOLS], 'the three m5.large pools, not the c5.xlarge one')
    t.same(body.pools[0], { id: POOLS[0], name: POOLS[0], az: 'us-east-1a', key: 'pool_m5_large_us_east_1a' })
    t.notOk(body.pools.some((p) => /[.-]/.test(p.key)), 'no dot (or dash) in a key')
    t.equal(body.onDemandPrice, 0.096)
    t.equal(body.data.length, 3, 'three hours with prices in 7 days (3 days ago, 2 h and 1 h ago)')
    t.same(body.data[0], {
      time: new Date(hourStart).toISOString(), onDemand: 0.096,
      pool_m5_large_us_east_1a: 0.041, pool_m5_large_us_east_1b: 0.05, pool_m5_large_us_east_1c: 0.0605,
    }, 'the hour\'s average per pool, under the pool\'s key')
    const times = body.data.map((d) => String(d.time))
    t.same(times, [...times].sort(), 'oldest first')

    const month = (await get(`/api/client/instances/${fleet.instanceId}/price-history?days=30&interval=day`)).json() as typeof body
    const priced = new Set([now - 10 * DAY, hourStart, now - 2 * HOUR - 60_000, now - HOUR].map((ms) => new Date(ms).toISOString().slice(0, 10)))
    t.equal(month.data.length, priced.size, 'one row per day with prices in 30 days (10 and 3 days ago, the fleet\'s two hours)')
    t.ok(month.data.every((d) => String(d.time).endsWith('T00:00:00.000Z')), 'day buckets start at midnight UTC')
    t.equal(month.data[0]!.pool_m5_large_us_east_1a, 0.02, 'the 10-day-old price is in the 30-day window')
    t.equal((await get(`/api/client/instances/${fleet.instanceId}/price-history`)).json().data.length, 3, 'defaults: 7 days, hourly')
  })

  await t.test('price history: bad days or interval is a 400 with the zod issues; an unknown instance a 404', async (t) => {
    for (const [q, field] of [['days=0', 'days'], ['days=91', 'days'], ['days=1.5', 'days'], ['days=x', 'days'], ['interval=minute', 'interval']] as const) {
      const r = await get(`/api/client/instances/${fleet.instanceId}/price-history?${q}`)
      t.equal(r.statusCode, 400, q)
      t.match(r.json(), { error: 'validation', issues: [{ path: ['query', field], code: String, message: String }] }, q)
    }
    t.equal((await get('/api/client/instances/i-unknown/price-history')).statusCode, 404)
    t.equal((await get(`/api/client/instances/${fleet.firstInstanceId}/price-history`)).statusCode, 404, 'an instance the agent left is not its current one')
  })

  await t.test('savings per day, week and month, from client_savings_daily', async (t) => {
    const stored = async (from: string) => Number((await sql<{ s: string }>`
      SELECT COALESCE(SUM(savings), 0) AS s FROM client_savings_daily WHERE client_id = ${client.id} AND date >= ${from}`.execute(db)).rows[0]!.s)
    const day = (ms: number) => new Date(ms).toISOString().slice(0, 10)

    const daily = (await get(`/api/client/${client.id}/savings?range=daily`)).json() as { name: string, savings: number, onDemandCost: number, modelCost: number }[]
    t.equal(daily.length, 30, 'the last 30 days, each with its row')
    t.same(daily.map((d) => d.name), Array.from({ length: 30 }, (_, i) => day(today - (29 - i) * DAY)), 'one row per day, oldest first')
    // Yesterday and today also hold the first fleet's 50 minutes (across midnight when run just after it).
    const full = daily.slice(0, -2)
    t.ok(full.every((d) => d.onDemandCost === 2.304 && d.modelCost === 0.84 && d.savings === 1.464), 'a full day: 24 h × 0.096 vs 24 h × 0.035')
    t.match(daily.at(-1), { name: day(today), savings: Number, onDemandCost: Number, modelCost: Number, savingsPercentage: Number })
    t.ok(Math.abs(daily.reduce((a, d) => a + d.savings, 0) - await stored(day(today - 29 * DAY))) < 1e-6, 'the sum is the stored rows\' sum')

    const weekly = (await get(`/api/client/${client.id}/savings?range=weekly`)).json() as typeof daily
    t.ok(weekly.length >= 6 && weekly.length <= 7, `40 days fall in 6 or 7 weeks (${weekly.length})`)
    t.ok(weekly.every((w) => new Date(`${w.name}T00:00:00Z`).getUTCDay() === 1), 'weeks start on Monday')
    t.ok(Math.abs(weekly.reduce((a, d) => a + d.savings, 0) - await stored(weekly[0]!.name)) < 1e-6)

    const monthly = (await get(`/api/client/${client.id}/savings?range=monthly`)).json() as typeof daily
    t.ok(monthly.length >= 2 && monthly.every((m) => m.name.endsWith('-01')), 'months named by their first day')
    t.same((await get(`/api/client/${client.id}/savings`)).json(), monthly, 'monthly by default')
    t.ok(Math.abs(monthly.reduce((a, d) => a + d.savings, 0) - await stored('1000-01-01')) < 1e-6, 'every day is in some month')

    const bad = await get(`/api/client/${client.id}/savings?range=yearly`)
    t.equal(bad.statusCode, 400)
    t.match(bad.json(), { error: 'validation', issues: [{ path: ['query', 'range'] }] })
  })

  await t.test('stats/charts: savings trend, agents per mode, switches per day', async (t) => {
    const r = await get(`/api/client/${client.id}/stats/charts`)
    t.equal(r.statusCode, 200)
    const body = r.json() as { savingsTrend: { month: string, baseline: number, actual: number }[], modeDistribution: unknown[], switchFrequency: { date: string, switches: number }[] }
    const monthly = (await get(`/api/client/${client.id}/savings?range=monthly`)).json() as { name: string, onDemandCost: number, modelCost: number }[]
    t.same(body.savingsTrend, monthly.map((m) => ({ month: m.name.slice(0, 7), baseline: m.onDemandCost, actual: m.modelCost })))
    t.same(body.modeDistribution, [{ mode: 'spot', count: 2 }])
    t.equal(body.switchFrequency.length, 30, 'every one of the last 30 days')
    const switchedOn = (await db.selectFrom('instance_switches').select('switched_at').where('client_id', '=', client.id).execute()).map((s) => s.switched_at.slice(0, 10))
    t.equal(switchedOn.length, 1, 'the fleet\'s one failover')
    t.same(body.switchFrequency.filter((d) => d.switches > 0), [{ date: switchedOn[0], switches: 1 }])
    t.equal(body.switchFrequency.at(-1)!.date, new Date(now).toISOString().slice(0, 10))
  })

  await t.test('pools/reliability: safest first, with counts and time to interruption; any valid token', async (t) => {
    const r = await get('/api/pools/reliability')
    t.equal(r.statusCode, 200)
    const pools = r.json() as { rank: number, poolId: string, interruptions: number, timeToInterruption: { samples: number, p50Hours: number | null } }[]
    t.same(pools.map((p) => p.rank), pools.map((_, i) => i + 1))
    t.equal(pools.at(-1)!.poolId, POOLS[0], 'the pool with the rebalance and the termination notice ranks last')
    t.match(pools.at(-1), {
      interruptions: 2, terminations: 1, rebalances: 1, score: Number, avgSpotPrice: Number,
      timeToInterruption: { samples: 1, p50Hours: 20 / 60, p90Hours: 20 / 60 },
    }, 'the instance ran 20 minutes before its termination notice')
    t.ok(pools.slice(0, -1).every((p) => p.interruptions === 0 && p.timeToInterruption.samples === 0 && p.timeToInterruption.p50Hours === null))

    t.equal((await get('/api/pools/reliability', OPERATOR_TOKEN)).statusCode, 200, 'the operator token reads it')
    t.equal((await get('/api/pools/reliability', 'not-a-token')).statusCode, 401)
    t.equal((await app.inject('/api/pools/reliability')).statusCode, 401, 'no token')
  })
})
