/**
 * The operator's console (/api/admin/*) as the original UI reads it. One
 * bearer token, two scopes (src/clients/scope.ts): OPERATOR_TOKEN sees every
 * client and manages them; a client's token sees only its own client (the
 * list holds it alone, the figures count its fleet) and is refused client
 * management with 403. Model upload and decision-engine routes belong to a
 * system this service does not run: 501, saying so.
 */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { sql, type Kysely } from 'kysely'
import { z } from 'zod'
import { createClient, deactivateClient, rotateToken } from '../clients/client.repository.js'
import {
  clientGrowth, consoleAgents, consoleClients, consoleInstances, consoleStats, recentActivity,
} from '../clients/console.queries.js'
import type { Database } from '../db/database.js'
import { NotFoundError } from '../errors.js'
import { operatorOnly, scopeOf } from '../plugins/auth.js'
import { ConsoleClientJson, ConsoleInstanceJson, InstanceQuery, modeOf } from './console-schemas.js'
import { ClientParams, ErrorJson } from './schemas.js'

export interface AdminDeps {
  db: Kysely<Database>
  consumerReady: () => boolean
}

const tags = ['admin']
const iso = z.string().nullable()

const Stats = z.object({
  totalAccounts: z.int(), agentsOnline: z.int(), agentsTotal: z.int(), poolsCovered: z.int(),
  totalSavings: z.number(), totalSwitches: z.int(), modelSwitches: z.int().describe('automatic: failovers and rule-driven switches'),
  manualSwitches: z.int().describe('user promotions and manual switches'),
})
const Engine = z.object({ loaded: z.literal(false), type: z.null(), version: z.null(), reason: z.string() })
const Health = z.object({
  status: z.enum(['healthy', 'degraded']), database: z.boolean(), consumer: z.boolean(), timestamp: z.string(),
  decisionEngineStatus: Engine, modelStatus: Engine.extend({ filesUploaded: z.literal(0), activeModels: z.array(z.string()).max(0) }),
})
const AgentRow = z.object({
  id: z.string(), clientId: z.string(), clientName: z.string(), hostname: z.string().nullable(), instanceId: z.string().nullable(),
  instanceType: z.string().nullable(), poolId: z.string().nullable(), currentMode: z.string(), enabled: z.boolean(),
  status: z.enum(['online', 'offline']), lastHeartbeatAt: iso, version: z.null(), createdAt: iso,
})
const NOT_HERE = 'this service runs no decision engine or ML models: its rules are built in (src/agent/agent.rules.ts)'
const Unsupported = z.object({ error: z.literal('not_implemented'), message: z.string() })

export const adminRoutes: FastifyPluginAsyncZod<AdminDeps> = async (fastify, { db, consumerReady }) => {
  fastify.get('/api/admin/stats', { schema: { tags, response: { 200: Stats } } }, async (request) => consoleStats(db, scopeOf(request)))

  fastify.get('/api/admin/clients', { schema: { tags, response: { 200: z.array(ConsoleClientJson) } } }, async (request) => consoleClients(db, scopeOf(request)))

  fastify.post('/api/admin/clients/create', {
    schema: {
      tags, body: z.object({ name: z.string().trim().min(1).max(255), email: z.email().max(255).optional() }),
      response: { 201: z.object({ client: z.object({ id: z.string(), name: z.string(), token: z.string().describe('shown once; only its sha256 is stored') }) }), 403: ErrorJson },
    },
  }, async (request, reply) => {
    operatorOnly(request)
    const created = await createClient(db, request.body.name, request.body.email ?? null)
    return reply.code(201).send({ client: { ...created, name: request.body.name } })
  })

  fastify.delete('/api/admin/clients/:clientId', {
    schema: {
      tags, params: ClientParams, description: 'Deactivates the client and revokes its token; its agents, log and history stay.',
      response: { 200: z.object({ success: z.literal(true), id: z.string() }), 403: ErrorJson, 404: ErrorJson },
    },
  }, async (request) => {
    operatorOnly(request)
    if (!(await deactivateClient(db, request.params.clientId))) throw new NotFoundError(`client ${request.params.clientId} not found`)
    return { success: true as const, id: request.params.clientId }
  })

  fastify.post('/api/admin/clients/:clientId/regenerate-token', {
    schema: { tags, params: ClientParams, response: { 200: z.object({ id: z.string(), token: z.string() }), 403: ErrorJson, 404: ErrorJson } },
  }, async (request) => {
    operatorOnly(request)
    const token = await rotateToken(db, request.params.clientId)
    if (token === undefined) throw new NotFoundError(`client ${request.params.clientId} not found`)
    return { id: request.params.clientId, token }
  })

  fastify.get('/api/admin/clients/:clientId/token', {
    schema: {
      tags, params: ClientParams,
      description: 'Tokens are stored as sha256 only, so no token can be shown again; `token` carries that sentence for the UI\'s token box. Regenerate for a new one.',
      response: { 200: z.object({ id: z.string(), retrievable: z.literal(false), token: z.string(), message: z.string() }), 403: ErrorJson, 404: ErrorJson },
    },
  }, async (request) => {
    operatorOnly(request)
    const [client] = await consoleClients(db, scopeOf(request), new Date(), request.params.clientId)
    if (client === undefined) throw new NotFoundError(`client ${request.params.clientId} not found`)
    const message = 'Not retrievable: only the token\'s sha256 is stored. Use "Regenerate Token" to get a new one (the old one stops at once).'
    return { id: client.id, retrievable: false as const, token: message, message }
  })

  fastify.get('/api/admin/clients/growth', {
    schema: {
      tags, querystring: z.object({ days: z.coerce.number().int().min(1).max(366).default(30) }),
      response: { 200: z.array(z.object({ date: z.string(), count: z.int(), new: z.int(), active: z.int() })) },
    },
  }, async (request) => clientGrowth(db, scopeOf(request), request.query.days))

  fastify.get('/api/admin/activity', {
    schema: {
      tags, querystring: z.object({ limit: z.coerce.number().int().min(1).max(200).default(20) }),
      response: { 200: z.array(z.object({ id: z.string(), type: z.enum(['switch', 'event', 'agent']), text: z.string(), time: z.string() })) },
    },
  }, async (request) => recentActivity(db, scopeOf(request), request.query.limit))

  fastify.get('/api/admin/system-health', { schema: { tags, response: { 200: Health } } }, async () => {
    const database = await sql`SELECT 1`.execute(db).then(() => true, () => false)
    const consumer = consumerReady()
    const engine = { loaded: false as const, type: null, version: null, reason: NOT_HERE }
    return {
      status: database && consumer ? 'healthy' as const : 'degraded' as const, database, consumer, timestamp: new Date().toISOString(),
      decisionEngineStatus: engine, modelStatus: { ...engine, filesUploaded: 0 as const, activeModels: [] },
    }
  })

  fastify.get('/api/admin/agents', {
    schema: {
      tags, querystring: z.object({ status: z.enum(['online', 'offline', 'all']).optional(), search: z.string().max(200).optional() }),
      response: { 200: z.object({ agents: z.array(AgentRow), total: z.int() }) },
    },
  }, async (request) => {
    const { status, search } = request.query
    const agents = await consoleAgents(db, scopeOf(request), { status: status === 'all' ? undefined : status, search })
    return { agents, total: agents.length }
  })

  fastify.get('/api/admin/instances', {
    schema: { tags, querystring: InstanceQuery, response: { 200: z.object({ instances: z.array(ConsoleInstanceJson), total: z.int() }) } },
  }, async (request) => {
    const { status, mode, search } = request.query
    const instances = await consoleInstances(db, scopeOf(request), { status: status === 'all' ? undefined : status, mode: modeOf(mode), search })
    return { instances, total: instances.length }
  })

  fastify.get('/api/admin/ml-models/sessions', {
    schema: { tags, description: NOT_HERE, response: { 200: z.array(z.never()).max(0) } },
  }, async () => [])

  for (const url of ['/api/admin/ml-models/upload', '/api/admin/ml-models/activate', '/api/admin/ml-models/fallback',
    '/api/admin/decision-engine/upload', '/api/admin/decision-engine/activate']) {
    // Answered before the body is read: the UI uploads multipart files, which this service neither parses nor keeps.
    fastify.post(url, {
      schema: { tags, description: NOT_HERE, response: { 501: Unsupported } },
      onRequest: async (_request, reply) => reply.code(501).send({ error: 'not_implemented' as const, message: NOT_HERE }),
    }, async (_request, reply) => reply.code(501).send({ error: 'not_implemented' as const, message: NOT_HERE }))
  }
}
