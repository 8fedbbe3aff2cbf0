/**
 * The client view of the console: the client's header, its instances tab,
 * the Models tab (what the rules last did per agent, price-report health)
 * and the instance panel's switch options. Reads only; the force switch is in
 * src/routes/force-switch.ts.
 */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import type { Kysely } from 'kysely'
import { z } from 'zod'
import { agentOfInstance } from '../agent/agent.queries.js'
import { consoleClients, consoleInstances } from '../clients/console.queries.js'
import type { Database } from '../db/database.js'
import { NotFoundError } from '../errors.js'
import { agentDecisions } from '../projections/agent-decisions.queries.js'
import { latestPoolPrices } from '../projections/pool-prices.queries.js'
import { sameClient, scopeOf } from '../plugins/auth.js'
import { ConsoleClientJson, InstanceQuery, modeOf } from './console-schemas.js'
import { ClientParams, InstanceParams } from './schemas.js'

const tags = ['client view']
const iso = z.string().nullable()
const price = z.number().describe('0 while the agent has not reported it: the UI formats it unconditionally')

const InstanceRow = z.object({
  id: z.string(), agentId: z.string().nullable(), status: z.enum(['active', 'terminated']), type: z.string().nullable(),
  region: z.string().nullable(), az: z.string().nullable(), mode: z.string(), poolId: z.string().nullable(),
  spotPrice: price, onDemandPrice: price, lastSwitch: iso,
})

const Decision = z.object({
  agentId: z.string(), agentName: z.string(), status: z.enum(['online', 'offline']),
  lastDecision: z.object({
    type: z.string().describe('switch_spot, switch_ondemand or stay'), action: z.string(), at: z.string(),
    elapsed: z.object({ value: z.int(), unit: z.string(), formatted: z.string() }),
  }).nullable(),
  pricingHealth: z.object({
    status: z.enum(['healthy', 'insufficient']), recentReportsCount: z.int(),
    recentReports: z.array(z.object({ time: z.string(), spotPrice: z.number(), onDemandPrice: z.number() })),
  }),
})

const Options = z.object({
  instanceId: z.string(), currentMode: z.string(), currentPool: z.string().nullable(), instanceTypes: z.array(z.string()),
  pools: z.array(z.object({ id: z.string(), az: z.string(), price: z.number().nullable(), current: z.boolean() })),
  onDemand: z.object({ price: z.number().nullable() }),
})

export const clientViewRoutes: FastifyPluginAsyncZod<{ db: Kysely<Database> }> = async (fastify, { db }) => {
  fastify.get('/api/client/:clientId', {
    schema: { tags, params: ClientParams, response: { 200: ConsoleClientJson } },
  }, async (request) => {
    const scope = sameClient(request, request.params.clientId)
    const [client] = await consoleClients(db, scope, new Date(), request.params.clientId)
    if (client === undefined) throw new NotFoundError(`client ${request.params.clientId} not found`)
    return client
  })

  fastify.get('/api/client/:clientId/instances', {
    schema: { tags, params: ClientParams, querystring: InstanceQuery, response: { 200: z.array(InstanceRow) } },
  }, async (request) => {
    const scope = sameClient(request, request.params.clientId)
    const { status, mode, search } = request.query
    const rows = await consoleInstances(db, scope, { status: status === 'all' ? undefined : status, mode: modeOf(mode), search }, request.params.clientId)
    return rows.map((i) => ({
      id: i.id, agentId: i.agentId, status: i.status, type: i.instanceType, region: i.region, az: i.az, mode: i.currentMode,
      poolId: i.poolId, spotPrice: i.spotPrice ?? 0, onDemandPrice: i.ondemandPrice ?? 0, lastSwitch: i.lastSwitch,
    }))
  })

  fastify.get('/api/client/:clientId/agents/decisions', {
    schema: { tags, params: ClientParams, response: { 200: z.array(Decision) } },
  }, async (request) => {
    sameClient(request, request.params.clientId)
    return agentDecisions(db, request.params.clientId)
  })

  fastify.get('/api/client/instances/:instanceId/available-options', {
    schema: { tags, params: InstanceParams, response: { 200: Options } },
  }, async (request) => {
    const agent = await agentOfInstance(db, scopeOf(request), request.params.instanceId)
    const pools = agent.instance_type === null || agent.region === null ? [] : await latestPoolPrices(db, agent.instance_type, agent.region)
    const od = agent.ondemand_price ?? pools.find((p) => p.onDemandPrice !== null)?.onDemandPrice ?? null
    return {
      instanceId: request.params.instanceId, currentMode: agent.current_mode, currentPool: agent.current_pool_id,
      instanceTypes: agent.instance_type === null ? [] : [agent.instance_type],
      pools: pools.map((p) => ({ id: p.poolId, az: p.az, price: p.spotPrice === null ? null : Number(p.spotPrice), current: p.poolId === agent.current_pool_id })),
      onDemand: { price: od === null ? null : Number(od) },
    }
  })
}
