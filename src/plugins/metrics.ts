/**
 * GET /metrics in the Prometheus text format (the app's Metrics registry),
 * and the HTTP latency of every request by route pattern and status.
 */
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import type { Metrics } from '../metrics.js'

export interface MetricsOptions {
  metrics: Metrics
  /** Run before each scrape: gauges read on demand (consumer lag, agents offline). */
  collectors?: readonly (() => Promise<unknown>)[]
}

export const metricsPlugin = fp(async (fastify: FastifyInstance, { metrics, collectors = [] }: MetricsOptions) => {
  fastify.addHook('onResponse', async (request, reply) => {
    // The route pattern, not the URL: ids in paths would make a series per id.
    const route = request.routeOptions.url ?? 'unmatched'
    metrics.httpSeconds.observe({ method: request.method, route, status: String(reply.statusCode) }, reply.elapsedTime / 1000)
  })
  fastify.get('/metrics', { schema: { hide: true } }, async (_req, reply) => {
    // A failing collector leaves its gauges at their last values; the scrape still answers.
    await Promise.all(collectors.map((c) => c().catch((err: unknown) => fastify.log.warn({ err }, 'a metrics collector failed'))))
    return reply.type(metrics.contentType).send(await metrics.text())
  })
}, { name: 'metrics', fastify: '5.x' })
