/**
 * The console's bell: notifications (a projection of the log, plus parked
 * dead letters for the operator), newest first, and marking them read. A
 * client's token sees its own client's only; the operator every client's,
 * or one client's with ?client_id.
 */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import type { Kysely } from 'kysely'
import { z } from 'zod'
import type { Database } from '../db/database.js'
import { NotFoundError } from '../errors.js'
import { listNotifications, markAllRead, markRead } from '../projections/notifications.queries.js'
import { sameClient, scopeOf } from '../plugins/auth.js'

const tags = ['notifications']
const Notification = z.object({
  id: z.string(), kind: z.string(), severity: z.enum(['info', 'warning', 'error']).or(z.string()), message: z.string(), time: z.string(),
  isRead: z.boolean(), clientId: z.string().nullable(), agentId: z.string().nullable(),
})

export const notificationRoutes: FastifyPluginAsyncZod<{ db: Kysely<Database> }> = async (fastify, { db }) => {
  fastify.get('/api/notifications', {
    schema: {
      tags, querystring: z.object({ client_id: z.uuid().optional(), limit: z.coerce.number().int().min(1).max(200).default(20) }),
      response: { 200: z.array(Notification) },
    },
  }, async (request) => {
    const { client_id: clientId, limit } = request.query
    const scope = clientId === undefined ? scopeOf(request) : sameClient(request, clientId)
    return listNotifications(db, scope, clientId, limit)
  })

  fastify.post('/api/notifications/:id/mark-read', {
    schema: { tags, params: z.object({ id: z.string().min(1).max(64) }), response: { 200: z.object({ success: z.literal(true), id: z.string() }) } },
  }, async (request) => {
    if (!(await markRead(db, scopeOf(request), request.params.id))) throw new NotFoundError(`notification ${request.params.id} not found`)
    return { success: true as const, id: request.params.id }
  })

  fastify.post('/api/notifications/mark-all-read', {
    schema: {
      // The UI posts {client_id: null}, or nothing at all.
      tags, body: z.object({ client_id: z.uuid().nullable().optional() }).nullish(),
      response: { 200: z.object({ success: z.literal(true), marked: z.int() }) },
    },
  }, async (request) => {
    const clientId = request.body?.client_id ?? undefined
    const scope = clientId === undefined ? scopeOf(request) : sameClient(request, clientId)
    return { success: true as const, marked: await markAllRead(db, scope, clientId) }
  })
}
