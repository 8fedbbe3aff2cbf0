/**
 * The client's history lists, newest first, in pages (cursor + limit; the
 * next cursor in X-Next-Cursor): switch history with failovers, and the
 * interruption signals with the response the rules chose.
 */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import type { Kysely } from 'kysely'
import { z } from 'zod'
import { interruptions } from '../projections/interruptions.queries.js'
import { switchHistory } from '../projections/switches.queries.js'
import type { Database } from '../db/database.js'
import { InstanceIdSchema } from '../events/fields.js'
import { sameClient } from '../plugins/auth.js'
import { PageQuery, sendPage } from './pagination.js'
import { ClientParams } from './schemas.js'

const tags = ['history']
const iso = z.string().nullable()
const money = z.number().nullable()

const SwitchJson = z.object({
  id: z.int(), timestamp: iso, instanceId: z.string().nullable(), oldInstanceId: z.string().nullable(), newInstanceId: z.string().nullable(),
  agentId: z.string().nullable(), fromMode: z.string().nullable(), toMode: z.string().nullable(), fromPool: z.string().nullable(),
  toPool: z.string().nullable(), trigger: z.string().nullable(), reason: z.string().nullable(),
  price: z.number().describe('0 when unknown'), savingsImpact: z.number().describe('per hour, old price minus new; 0 when unknown'),
})

const InterruptionJson = z.object({
  id: z.int(), agentId: z.string(), instanceId: z.string().nullable(), poolId: z.string().nullable(), signalType: z.string(),
  detectedAt: iso, terminationTime: iso, responseAction: z.string().nullable(), replicaId: z.string().nullable(),
  responseTimeMs: z.int().nullable(), failoverTimeMs: z.int().nullable(), success: z.boolean().nullable(), errorMessage: z.string().nullable(),
})

export const historyRoutes: FastifyPluginAsyncZod<{ db: Kysely<Database> }> = async (fastify, { db }) => {
  fastify.get('/api/client/:clientId/switch-history', {
    schema: { tags, params: ClientParams, querystring: PageQuery.extend({ instance_id: InstanceIdSchema.optional() }), response: { 200: z.array(SwitchJson) } },
  }, async (request, reply) => {
    sameClient(request, request.params.clientId)
    const { instance_id: instanceId, ...page } = request.query
    return sendPage(reply, await switchHistory(db, request.params.clientId, { ...page, instanceId }))
  })

  fastify.get('/api/client/:clientId/interruptions', {
    schema: { tags, params: ClientParams, querystring: PageQuery, response: { 200: z.array(InterruptionJson) } },
  }, async (request, reply) => {
    sameClient(request, request.params.clientId)
    return sendPage(reply, await interruptions(db, request.params.clientId, request.query))
  })
}
