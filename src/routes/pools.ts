/**
 * The safest-pool ranking. Pools are not tenant data (every client's agents
 * run in the same AWS pools and the ranking is over all of them), so any
 * valid client token or the operator token may read it (app.ts).
 */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import type { Kysely } from 'kysely'
import { z } from 'zod'
import type { Database } from '../db/database.js'
import { poolReliability } from '../projections/pool-reliability.queries.js'

const hours = z.number().nullable()

const PoolJson = z.object({
  rank: z.int().min(1), poolId: z.string(), score: z.number().nullable().describe('average reliability score of the hour buckets, 0–100'),
  interruptions: z.int().describe('signals over 30 days'), terminations: z.int(), rebalances: z.int(), interruptions7d: z.int(),
  instanceHours: z.number().describe('instance-hours observed over 30 days'), instanceHoursInterrupted: z.number(),
  avgSpotPrice: z.number().nullable(),
  timeToInterruption: z.object({ samples: z.int(), p50Hours: hours, p90Hours: hours })
    .describe('hours instances ran before a termination notice, over 30 days'),
})

export const poolRoutes: FastifyPluginAsyncZod<{ db: Kysely<Database> }> = async (fastify, { db }) => {
  fastify.get('/api/pools/reliability', {
    schema: { tags: ['pools'], response: { 200: z.array(PoolJson) } },
  }, async () => poolReliability(db))
}
