/**
 * The instance panel: pricing card (current pool, on-demand, every pool of
 * the instance type with its savings), summary metrics and the price-history
 * chart (every pool of the instance type in hour or day buckets). The instance must be the current instance of one of the client's
 * agents; anything else is a 404. A client's price history is answered from
 * the response cache (response-cache.ts).
 */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import type { Kysely } from 'kysely'
import { z } from 'zod'
import { agentOfInstance } from '../agent/agent.queries.js'
import type { Database } from '../db/database.js'
import { instanceSummary } from '../projections/instance-summary.queries.js'
import { PRICING_SCOPE, clientScope } from '../log/read-versions.js'
import { instancePriceHistory, priceWindow } from '../projections/pricing-history.queries.js'
import { latestPoolPrices } from '../projections/pool-prices.queries.js'
import { scopeOf } from '../plugins/auth.js'
import type { ResponseCache } from './response-cache.js'
import { InstanceParams } from './schemas.js'

const tags = ['instances']
const money = z.number().nullable()

// The UI formats these prices unconditionally: 0 stands for "not reported yet", and pools without a known price are left out.
const price = z.number().describe('0 while not reported yet')

const Pricing = z.object({
  currentMode: z.string(), currentPool: z.object({ id: z.string().nullable(), price: money }), onDemand: z.object({ price }),
  pools: z.array(z.object({ id: z.string(), az: z.string(), price: z.number(), savings: z.number().describe('% below on-demand; 0 when on-demand is unknown') })),
})

const Summary = z.object({
  uptimeHours: z.number(), totalSwitches: z.int(), switchesLast7Days: z.int(), totalSavings: z.number(), savingsLast30Days: z.number(),
  spotPrice: price, onDemandPrice: price,
})

const HistoryQuery = z.object({
  days: z.coerce.number().int().min(1).max(90).default(7),
  interval: z.enum(['hour', 'day']).default('hour'),
})

// Each row: the bucket, its on-demand price and one column per pool, named by the pool's `key` (no dots).
const HistoryRow = z.object({ time: z.string(), onDemand: money }).catchall(z.number())
const History = z.object({
  data: z.array(HistoryRow),
  pools: z.array(z.object({ id: z.string(), name: z.string(), az: z.string(), key: z.string().regex(/^[A-Za-z0-9_]+$/) })),
  onDemandPrice: money,
})

const num = (d: string | null) => (d === null ? null : Number(d))
/** Percent below on-demand, two places. */
const savingsPct = (price: number | null, onDemand: number | null) =>
  price === null || onDemand === null || onDemand <= 0 ? null : Math.round((onDemand - price) / onDemand * 10_000) / 100

export const instanceRoutes: FastifyPluginAsyncZod<{ db: Kysely<Database>, cache: ResponseCache }> = async (fastify, { db, cache }) => {
  fastify.get('/api/client/instances/:instanceId/pricing', {
    schema: { tags, params: InstanceParams, response: { 200: Pricing } },
  }, async (request) => {
    const agent = await agentOfInstance(db, scopeOf(request), request.params.instanceId)
    const pools = agent.instance_type === null || agent.region === null ? [] : await latestPoolPrices(db, agent.instance_type, agent.region)
    const onDemand = num(agent.ondemand_price) ?? num(pools.find((p) => p.onDemandPrice !== null)?.onDemandPrice ?? null)
    const current = pools.find((p) => p.poolId === agent.current_pool_id)
    return {
      currentMode: agent.current_mode,
      currentPool: { id: agent.current_pool_id, price: num(agent.spot_price) ?? num(current?.spotPrice ?? null) },
      onDemand: { price: onDemand ?? 0 },
      pools: pools.flatMap((p) => {
        const spot = num(p.spotPrice)
        return spot === null ? [] : [{ id: p.poolId, az: p.az, price: spot, savings: savingsPct(spot, onDemand) ?? 0 }]
      }),
    }
  })

  fastify.get('/api/client/instances/:instanceId/metrics', {
    schema: { tags, params: InstanceParams, response: { 200: Summary } },
  }, async (request) => {
    const s = await instanceSummary(db, await agentOfInstance(db, scopeOf(request), request.params.instanceId))
    return { ...s, spotPrice: s.spotPrice ?? 0, onDemandPrice: s.onDemandPrice ?? 0 }
  })

  fastify.get('/api/client/instances/:instanceId/price-history', {
    schema: { tags, params: InstanceParams, querystring: HistoryQuery, response: { 200: History } },
  }, async (request, reply) => {
    const scope = scopeOf(request)
    const { instanceId } = request.params
    const window = priceWindow(request.query.days, request.query.interval)
    const build = async () => {
      const agent = await agentOfInstance(db, scope, instanceId)
      return instancePriceHistory(db, { instanceType: agent.instance_type, region: agent.region, onDemandPrice: agent.ondemand_price }, window)
    }
    // The operator's token sees every client's instances: its reads are not cached (no one client's version covers them).
    if (scope.kind !== 'client') return build()
    return cache.send(request, reply, {
      key: `price-history ${scope.clientId} ${instanceId} ${window.interval} ${window.from} ${window.to}`,
      scopes: [clientScope(scope.clientId), PRICING_SCOPE], build,
    })
  })
}
