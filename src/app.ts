/**
 * The HTTP API as a Fastify plugin; it never listens (src/server.ts does).
 * Health, readiness (database answers and the consumer is in its group) and
 * Prometheus metrics.
 */
import type { FastifyInstance } from 'fastify'
import { sql, type Kysely } from 'kysely'
import type { Database } from './db/database.js'
import type { Metrics } from './metrics.js'

export interface AppDeps {
  db: Kysely<Database>
  metrics: Metrics
  consumerReady: () => boolean
}

export async function app(fastify: FastifyInstance, deps: AppDeps): Promise<void> {
  fastify.get('/healthz', async () => ({ status: 'ok' }))

  fastify.get('/readyz', async (_req, reply) => {
    const database = await sql`SELECT 1`.execute(deps.db).then(() => true, () => false)
    const consumer = deps.consumerReady()
    return reply.code(database && consumer ? 200 : 503).send({ ready: database && consumer, database, consumer })
  })

  fastify.get('/metrics', async (_req, reply) => reply.type('text/plain; version=0.0.4').send(deps.metrics.text()))
}
