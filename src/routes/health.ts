/**
 * Liveness and readiness: /readyz is 200 when the database answers and the
 * consumer is in its group, else 503 with which one is missing. It also says
 * which partitions this instance owns and how far behind each is (several
 * instances split a group's partitions: README "Running at scale").
 */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { sql, type Kysely } from 'kysely'
import { z } from 'zod'
import type { Database } from '../db/database.js'

export interface HealthDeps {
  db: Kysely<Database>
  consumerReady: () => boolean
  /** The consumer's assignment and lag (src/ingest/lag.ts); absent in apps without a consumer. */
  consumerStatus?: () => Promise<{ assignment: Record<string, number[]>, lag: PartitionLag[] | null }>
  /** True while this instance holds the outbox relay's lock (one instance publishes at a time). */
  relayHolder?: () => boolean
}

const PartitionLag = z.object({ topic: z.string(), partition: z.number().int(), lag: z.number().int() })
type PartitionLag = z.infer<typeof PartitionLag>
const Ready = z.object({ ready: z.boolean(), database: z.boolean(), consumer: z.boolean() })
const Readiness = Ready.extend({
  /** topic → partitions this instance consumes. */
  assignment: z.record(z.string(), z.array(z.number().int())),
  /** Messages not yet applied, per assigned partition, and their sum; null when the broker did not answer in time. */
  lag: z.object({ total: z.number().int(), partitions: z.array(PartitionLag) }).nullable(),
  /** This instance is the one publishing the outbox. */
  relay: z.boolean(),
})
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

  fastify.get('/readyz', { schema: { tags, response: { 200: Readiness, 503: Readiness } } }, async (_req, reply) => {
    const database = await sql`SELECT 1`.execute(deps.db).then(() => true, () => false)
    const consumer = deps.consumerReady()
    const status = (await deps.consumerStatus?.()) ?? { assignment: {}, lag: [] }
    const lag = status.lag && { total: status.lag.reduce((n, l) => n + l.lag, 0), partitions: status.lag }
    return reply.code(database && consumer ? 200 : 503).send({ ready: database && consumer, database, consumer, assignment: status.assignment, lag, relay: deps.relayHolder?.() ?? false })
  })
}
