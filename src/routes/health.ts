/**
 * Liveness and readiness: /readyz is 200 when the database answers and the
 * consumer is in its group, else 503 with which one is missing.
 */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { sql, type Kysely } from 'kysely'
import { z } from 'zod'
import type { Database } from '../db/database.js'

export interface HealthDeps {
  db: Kysely<Database>
  consumerReady: () => boolean
}

const Ready = z.object({ ready: z.boolean(), database: z.boolean(), consumer: z.boolean() })
const tags = ['health']

export const healthRoutes: FastifyPluginAsyncZod<HealthDeps> = async (fastify, deps) => {
  fastify.get('/healthz', { schema: { tags, response: { 200: z.object({ status: z.literal('ok') }) } } }, async () => ({ status: 'ok' as const }))

  fastify.get('/readyz', { schema: { tags, response: { 200: Ready, 503: Ready } } }, async (_req, reply) => {
    const database = await sql`SELECT 1`.execute(deps.db).then(() => true, () => false)
    const consumer = deps.consumerReady()
    return reply.code(database && consumer ? 200 : 503).send({ ready: database && consumer, database, consumer })
  })
}
