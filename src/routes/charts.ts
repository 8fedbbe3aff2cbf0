/**
 * The client's chart reads: savings per day, week or month (from
 * client_savings_daily), and the dashboard's three small charts in one
 * answer (12 months of baseline against actual cost, agents per mode,
 * switches per day over 30 days).
 */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import type { Kysely } from 'kysely'
import { z } from 'zod'
import { modeDistribution } from '../agent/agent.queries.js'
import type { Database } from '../db/database.js'
import { sameClient } from '../plugins/auth.js'
import { savingsChart, savingsTrend } from '../projections/savings.queries.js'
import { switchFrequency } from '../projections/switches.queries.js'
import { ClientParams } from './schemas.js'

const tags = ['charts']
const date = z.string().regex(/^\d{4}-\d\d-\d\d$/)

const SavingsQuery = z.object({ range: z.enum(['daily', 'weekly', 'monthly']).default('monthly') })
const SavingsJson = z.object({
  name: date.describe('first day of the period (weeks start on Monday)'), savings: z.number(),
  onDemandCost: z.number().describe('what on-demand instances would have cost'), modelCost: z.number().describe('what the fleet cost'),
  savingsPercentage: z.number(),
})

const ChartsJson = z.object({
  savingsTrend: z.array(z.object({ month: z.string().regex(/^\d{4}-\d\d$/), baseline: z.number(), actual: z.number() })),
  modeDistribution: z.array(z.object({ mode: z.string(), count: z.int() })),
  switchFrequency: z.array(z.object({ date, switches: z.int() })),
})

export const chartRoutes: FastifyPluginAsyncZod<{ db: Kysely<Database> }> = async (fastify, { db }) => {
  fastify.get('/api/client/:clientId/savings', {
    schema: { tags, params: ClientParams, querystring: SavingsQuery, response: { 200: z.array(SavingsJson) } },
  }, async (request) => {
    sameClient(request, request.params.clientId)
    return savingsChart(db, request.params.clientId, request.query.range)
  })

  fastify.get('/api/client/:clientId/stats/charts', {
    schema: { tags, params: ClientParams, response: { 200: ChartsJson } },
  }, async (request) => {
    const { clientId } = request.params
    sameClient(request, clientId)
    const [trend, modes, switches] = await Promise.all([savingsTrend(db, clientId), modeDistribution(db, clientId), switchFrequency(db, clientId)])
    return { savingsTrend: trend, modeDistribution: modes, switchFrequency: switches }
  })
}
