/**
 * The HTTP API as a Fastify plugin; it never listens (src/server.ts does).
 * Zod schemas on every route (fastify-type-provider-zod) validate requests,
 * type the handlers, check responses and make the OpenAPI document at /docs.
 * Health, readiness and Prometheus metrics are open; the API (client, admin
 * and notification routes: a client's token or OPERATOR_TOKEN) and the
 * operator API (OPERATOR_TOKEN) are rate limited per token. One error handler (errors.ts) answers every failure.
 */
import type { FastifyInstance } from 'fastify'
import { validatorCompiler } from 'fastify-type-provider-zod'
import type { Kysely } from 'kysely'
import type { Database } from './db/database.js'
import { offlineByClient } from './agent/offline-sweep.js'
import { dashboard } from './dashboard.js'
import { errorHandler, notFoundHandler } from './errors.js'
import type { Pipeline } from './log/core.js'
import type { Metrics } from './metrics.js'
import { anyTokenAuth, apiAuth, operatorAuth } from './plugins/auth.js'
import { corsPlugin } from './plugins/cors.js'
import { metricsPlugin } from './plugins/metrics.js'
import { rateLimitPlugin } from './plugins/rate-limit.js'
import { zodFastSerializer } from './plugins/serializer.js'
import { swaggerPlugin } from './plugins/swagger.js'
import { adminRoutes } from './routes/admin.js'
import { agentRoutes } from './routes/agents.js'
import { chartRoutes } from './routes/charts.js'
import { clientViewRoutes } from './routes/client-view.js'
import { forceSwitchRoutes } from './routes/force-switch.js'
import { type HealthDeps, healthRoutes } from './routes/health.js'
import { historyRoutes } from './routes/history.js'
import { instanceRoutes } from './routes/instances.js'
import { notificationRoutes } from './routes/notifications.js'
import { operatorRoutes } from './routes/operator.js'
import { poolRoutes } from './routes/pools.js'
import { replicaRoutes } from './routes/replicas.js'
import { ResponseCache } from './routes/response-cache.js'

export interface AppDeps {
  db: Kysely<Database>
  metrics: Metrics
  consumerReady: () => boolean
  /** The consumer's assignment and lag, for /readyz and the lag gauge (absent: no consumer in this process). */
  consumerStatus?: HealthDeps['consumerStatus']
  /** Whether this process holds the outbox relay's lock, for /readyz. */
  relayHolder?: HealthDeps['relayHolder']
  /** The pipeline HTTP commands go through: the same one the consumer applies (src/wiring.ts). */
  pipeline: Pipeline
  /** UI origins allowed to call the API from a browser (CORS_ORIGINS). */
  corsOrigins?: readonly string[]
  /** OPERATOR_TOKEN; unset, the operator routes refuse every request. */
  operatorToken?: string | undefined
  /** Parse every response with its zod schema before sending it (tests); off, the compiled serializer alone writes it. */
  checkResponses?: boolean
  /** Requests per token per window; default 1200 a minute. */
  rateLimit?: { max: number, timeWindowMs: number }
}

export async function app(fastify: FastifyInstance, deps: AppDeps): Promise<void> {
  fastify.setValidatorCompiler(validatorCompiler)
  fastify.setSerializerCompiler(zodFastSerializer(deps.checkResponses ?? false))
  fastify.setErrorHandler(errorHandler)
  fastify.setNotFoundHandler(notFoundHandler)
  // Browsers' API clients send Content-Type: application/json on every request, bodiless DELETEs and POSTs
  // included: an empty JSON body is no body, not a 400 (the route's schema still decides whether one is needed).
  const json = fastify.getDefaultJsonParser('error', 'error')
  fastify.removeContentTypeParser('application/json')
  fastify.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) =>
    body === '' ? done(null, undefined) : json(request, body.toString(), done))

  // The heavy UI reads' bodies, validated by the database's data versions (so shared safely by several instances).
  const cache = new ResponseCache(deps.db, deps.metrics)
  const status = deps.consumerStatus
  const offline = async () => {
    const counts = await offlineByClient(deps.db)
    deps.metrics.agentsOffline.keepOnly((l) => counts.has(l.client ?? ''))
    for (const [client, n] of counts) deps.metrics.agentsOffline.set({ client }, n)
  }
  await fastify.register(metricsPlugin, { metrics: deps.metrics, collectors: status ? [status, offline] : [offline] })
  await fastify.register(corsPlugin, { origins: deps.corsOrigins ?? [] })
  await fastify.register(swaggerPlugin)
  await fastify.register(healthRoutes, deps)
  await fastify.register(dashboard) // the page at / (public/), uPlot from its package

  await fastify.register(async (api) => {
    await api.register(rateLimitPlugin, deps.rateLimit ?? { max: 1200, timeWindowMs: 60_000 })
    // One token, two scopes: OPERATOR_TOKEN sees every client, a client's token its own (src/clients/scope.ts).
    await api.register(async (client) => {
      apiAuth(client, deps.db, deps.operatorToken)
      const commands = { db: deps.db, pipeline: deps.pipeline }
      await client.register(agentRoutes, commands)
      await client.register(replicaRoutes, { ...commands, cache })
      await client.register(forceSwitchRoutes, commands)
      await client.register(historyRoutes, { db: deps.db })
      await client.register(instanceRoutes, { db: deps.db, cache })
      await client.register(clientViewRoutes, { db: deps.db })
      await client.register(adminRoutes, { db: deps.db, consumerReady: deps.consumerReady })
      await client.register(notificationRoutes, { db: deps.db })
      await client.register(chartRoutes, { db: deps.db })
    })
    await api.register(async (shared) => {
      anyTokenAuth(shared, deps.db, deps.operatorToken) // pools are not tenant data: any client's token, or the operator's
      await shared.register(poolRoutes, { db: deps.db })
    })
    await api.register(async (operator) => {
      operatorAuth(operator, deps.operatorToken)
      await operator.register(operatorRoutes, { db: deps.db, pipeline: deps.pipeline })
    })
  })
}
