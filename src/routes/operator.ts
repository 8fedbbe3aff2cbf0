/**
 * Operator routes (OPERATOR_TOKEN): clients and their tokens, dead letters
 * (list with reasons, re-drive one or a filter of them through the
 * pipeline), the rebuilds' status and fleet stats.
 */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import type { Kysely } from 'kysely'
import { z } from 'zod'
import { createClient, listClients, rotateToken } from '../clients/client.repository.js'
import { fleetStats, logPositions } from '../clients/fleet-stats.queries.js'
import type { Database } from '../db/database.js'
import { NotFoundError } from '../errors.js'
import { listDeadLetters, redriveDeadLetter, redriveMatching } from '../ingest/dead-letters.js'
import type { Pipeline } from '../log/core.js'
import { ReplayStatusSchema, replayStatus } from '../replay/status.js'
import { PageQuery, sendPage } from './pagination.js'
import { ClientParams } from './schemas.js'

export interface OperatorDeps {
  db: Kysely<Database>
  pipeline: Pipeline
}

const tags = ['operator']
const security = [{ operatorToken: [] }]
const iso = z.string().nullable()

const ClientJson = z.object({ id: z.string(), name: z.string(), email: z.string().nullable(), isActive: z.boolean(), agents: z.int(), createdAt: iso })
const NewClientBody = z.object({ name: z.string().trim().min(1).max(255), email: z.email().max(255).optional() })
const Token = z.object({ id: z.string(), token: z.string().describe('shown once; only its sha256 is stored') })

const DeadLetterFilter = z.object({
  topic: z.string().max(249).optional(), eventType: z.string().max(64).optional(), reason: z.string().max(200).optional(),
})
const DeadLetterJson = z.object({
  id: z.int(), topic: z.string().nullable(), partition: z.int().nullable(), offset: z.string().nullable(), key: z.string().nullable(),
  eventId: z.string().nullable(), eventType: z.string().nullable(), reason: z.string(), value: z.string().nullable(),
  createdAt: iso, publishedAt: iso, redriveCount: z.int(), lastRedrivenAt: iso, resolvedAt: iso,
})
const Outcome = z.object({
  id: z.int(), outcome: z.enum(['applied', 'duplicate', 'still-failing', 'not-found', 'already-resolved']),
  eventId: z.string().nullable().optional(), reason: z.string().optional(),
})
const RedriveBody = DeadLetterFilter.extend({
  ids: z.array(z.int().positive()).max(1000).optional(), limit: z.int().min(1).max(1000).default(100),
})

export const operatorRoutes: FastifyPluginAsyncZod<OperatorDeps> = async (fastify, { db, pipeline }) => {
  fastify.post('/api/operator/clients', {
    schema: { tags, security, body: NewClientBody, response: { 201: Token.extend({ name: z.string() }) } },
  }, async (request, reply) => {
    const created = await createClient(db, request.body.name, request.body.email ?? null)
    return reply.code(201).send({ ...created, name: request.body.name })
  })

  fastify.get('/api/operator/clients', { schema: { tags, security, response: { 200: z.array(ClientJson) } } }, async () => listClients(db))

  fastify.post('/api/operator/clients/:clientId/rotate-token', {
    schema: { tags, security, params: ClientParams, response: { 200: Token } },
  }, async (request) => {
    const token = await rotateToken(db, request.params.clientId)
    if (token === undefined) throw new NotFoundError(`client ${request.params.clientId} not found`)
    return { id: request.params.clientId, token }
  })

  fastify.get('/api/operator/dead-letters', {
    schema: {
      tags, security, response: { 200: z.array(DeadLetterJson) },
      querystring: PageQuery.extend(DeadLetterFilter.shape).extend({ resolved: z.enum(['true', 'false']).default('false').transform((v) => v === 'true') }),
    },
  }, async (request, reply) => sendPage(reply, await listDeadLetters(db, request.query)))

  fastify.post('/api/operator/dead-letters/:id/redrive', {
    schema: { tags, security, params: z.object({ id: z.coerce.number().int().positive() }), response: { 200: Outcome } },
  }, async (request) => {
    const r = await redriveDeadLetter(db, request.params.id, pipeline)
    if (r.outcome === 'not-found') throw new NotFoundError(`dead letter ${request.params.id} not found`)
    return r
  })

  fastify.post('/api/operator/dead-letters/redrive', {
    schema: {
      tags, security, body: RedriveBody,
      response: { 200: z.object({ attempted: z.int(), applied: z.int(), duplicates: z.int(), stillFailing: z.int(), results: z.array(Outcome) }) },
    },
  }, async (request) => redriveMatching(db, request.body, pipeline))

  fastify.get('/api/operator/replay', {
    schema: {
      tags, security,
      description: 'Whether a replay runs now, the latest rebuilds with their checkpoints (one marked running while none runs was interrupted: the next replay resumes it), the log\'s head and each partition\'s checkpoint.',
      response: {
        200: ReplayStatusSchema.extend({
          lastLogSeq: z.int(), lastRecordedAt: iso,
          checkpoints: z.array(z.object({ topic: z.string(), partition: z.int(), offset: z.string(), updatedAt: iso })),
        }),
      },
    },
  }, async () => {
    const [status, positions] = await Promise.all([replayStatus(db), logPositions(db)])
    return { ...status, ...positions }
  })

  fastify.get('/api/operator/fleet', {
    schema: {
      tags, security,
      response: {
        200: z.object({
          clients: z.int(), activeClients: z.int(), agents: z.int(), agentsOnline: z.int(), liveReplicas: z.int(),
          interruptionsLast24h: z.int(), failoversLast24h: z.int(), deadLettersParked: z.int(), outboxPending: z.int(), lastLogSeq: z.int(),
        }),
      },
    },
  }, async () => fleetStats(db))
}
