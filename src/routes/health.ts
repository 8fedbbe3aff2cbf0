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

  // The original UI's health check: the same facts as /readyz, always 200 so a UI can tell "up" from "down".
  fastify.get('/health', {
    schema: { tags, response: { 200: Ready.extend({ status: z.enum(['healthy', 'degraded']), timestamp: z.string() }) } },
  }, async () => {
    const database = await sql`SELECT 1`.execute(deps.db).then(() => true, () => false)
    const consumer = deps.consumerReady()
    return { status: database && consumer ? 'healthy' as const : 'degraded' as const, ready: database && consumer, database, consumer, timestamp: new Date().toISOString() }
  })

  fastify.get('/readyz', { schema: { tags, response: { 200: Ready, 503: Ready } } }, async (_req, reply) => {
    const database = await sql`SELECT 1`.execute(deps.db).then(() => true, () => false)
    const consumer = deps.consumerReady()
    return reply.code(database && consumer ? 200 : 503).send({ ready: database && consumer, database, consumer })
  })
}
