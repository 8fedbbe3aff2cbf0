/**
 * The HTTP API as a Fastify plugin; it never listens (src/server.ts does).
 * Health, readiness (database answers and the consumer is in its group) and
 * Prometheus metrics; the client API under /api (bearer token, see
 * plugins/auth.ts) and the one error handler (errors.ts).
 */
import type { FastifyInstance } from 'fastify'
import { sql, type Kysely } from 'kysely'
import type { Database } from './db/database.js'
import { dashboard } from './dashboard.js'
import { errorHandler } from './errors.js'
import type { Pipeline } from './log/core.js'
import type { Metrics } from './metrics.js'
import { clientAuth } from './plugins/auth.js'
import { agentRoutes } from './routes/agents.js'
import { replicaRoutes } from './routes/replicas.js'

export interface AppDeps {
  db: Kysely<Database>
  metrics: Metrics
  consumerReady: () => boolean
  /** The pipeline HTTP commands go through: the same one the consumer applies (src/wiring.ts). */
  pipeline: Pipeline
}

export async function app(fastify: FastifyInstance, deps: AppDeps): Promise<void> {
  fastify.setErrorHandler(errorHandler)

  await fastify.register(dashboard) // the page at / (public/), uPlot from its package

  fastify.get('/healthz', async () => ({ status: 'ok' }))

  fastify.get('/readyz', async (_req, reply) => {
    const database = await sql`SELECT 1`.execute(deps.db).then(() => true, () => false)
    const consumer = deps.consumerReady()
    return reply.code(database && consumer ? 200 : 503).send({ ready: database && consumer, database, consumer })
  })

  fastify.get('/metrics', async (_req, reply) => reply.type('text/plain; version=0.0.4').send(deps.metrics.text()))

  await fastify.register(async (api) => {
    clientAuth(api, deps.db)
    const commands = { db: deps.db, pipeline: deps.pipeline }
    await api.register(agentRoutes, commands)
    await api.register(replicaRoutes, commands)
  })
}
