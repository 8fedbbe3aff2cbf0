/**
 * Replica routes: the client's live replicas as the Replicas tab reads them
 * (the primary beside its replica), an agent's replicas, the user commands
 * (create, promote, delete) that go through the agent rules as user.replica_*
 * events, and the sync status an agent may report over HTTP instead of Kafka
 * (the same replica.sync_progress event, the same rules). The route generates
 * the replica id, so it can answer with it before the agent reports anything.
 * The Replicas tab is answered from the response cache (response-cache.ts).
 */
import { randomUUID } from 'node:crypto'
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import {
  ReplicaCreateRequestedSchema, ReplicaDeleteRequestedSchema, ReplicaPromoteRequestedSchema,
} from '../agent/agent.events.js'
import { agentReplicas, liveReplicas, ownedAgent, replicaJson, replicaOf } from '../agent/agent.queries.js'
import { clientScope } from '../log/read-versions.js'
import { PoolIdSchema, ReplicaSyncProgressSchema } from '../events/schemas.js'
import { sameClient, scopeOf } from '../plugins/auth.js'
import { type CommandDeps, eventIdOf, submitCommand } from './commands.js'
import type { ResponseCache } from './response-cache.js'
import { AgentParams, ClientParams, IdempotencyHeaders, LiveReplicaJson, ReplicaJson, ReplicaParams } from './schemas.js'

const CreateBody = z.object({ poolId: PoolIdSchema.optional() })
const SyncBody = ReplicaSyncProgressSchema.shape.data.omit({ replicaId: true })
const tags = ['replicas']

export const replicaRoutes: FastifyPluginAsyncZod<CommandDeps & { cache: ResponseCache }> = async (fastify, deps) => {
  const { db, cache } = deps
  const envelope = (clientId: string, agentId: string, eventId: string) => ({
    eventId, version: 1, occurredAt: new Date().toISOString(), clientId, agentId,
  })

  fastify.get('/api/client/:clientId/replicas', {
    schema: { tags, params: ClientParams, response: { 200: z.array(LiveReplicaJson) } },
  }, async (request, reply) => {
    const { clientId } = request.params
    sameClient(request, clientId)
    return cache.send(request, reply, { key: `replicas ${clientId}`, scopes: [clientScope(clientId)], build: () => liveReplicas(db, clientId) })
  })

  fastify.get('/api/agents/:agentId/replicas', {
    schema: { tags, params: AgentParams, response: { 200: z.array(ReplicaJson) } },
  }, async (request) => {
    await ownedAgent(db, scopeOf(request), request.params.agentId)
    return agentReplicas(db, request.params.agentId)
  })

  fastify.post('/api/agents/:agentId/replicas', {
    schema: { tags, params: AgentParams, headers: IdempotencyHeaders, body: CreateBody.default({}), response: { 201: ReplicaJson } },
  }, async (request, reply) => {
    const { agentId } = request.params
    const agent = await ownedAgent(db, scopeOf(request), agentId)
    const event = await submitCommand(deps, ReplicaCreateRequestedSchema.parse({
      ...envelope(agent.client_id, agentId, eventIdOf(request.headers)), type: 'user.replica_create_requested',
      data: { replicaId: randomUUID(), ...request.body },
    }))
    return reply.code(201).send(replicaJson(await replicaOf(db, agentId, event.data.replicaId)))
  })

  fastify.post('/api/agents/:agentId/replicas/:replicaId/sync-status', {
    schema: { tags, params: ReplicaParams, headers: IdempotencyHeaders, body: SyncBody, response: { 200: ReplicaJson } },
  }, async (request) => {
    const { agentId, replicaId } = request.params
    const agent = await ownedAgent(db, scopeOf(request), agentId)
    await replicaOf(db, agentId, replicaId)
    await submitCommand(deps, ReplicaSyncProgressSchema.parse({
      ...envelope(agent.client_id, agentId, eventIdOf(request.headers)), type: 'replica.sync_progress', data: { replicaId, ...request.body },
    }))
    return replicaJson(await replicaOf(db, agentId, replicaId))
  })

  /** Promote and delete: a user request naming one of the agent's replicas, answered with the replica. */
  for (const [method, path, schema] of [
    ['POST', '/api/agents/:agentId/replicas/:replicaId/promote', ReplicaPromoteRequestedSchema],
    ['DELETE', '/api/agents/:agentId/replicas/:replicaId', ReplicaDeleteRequestedSchema],
  ] as const) {
    fastify.route({
      method, url: path,
      schema: { tags, params: ReplicaParams, headers: IdempotencyHeaders, response: { 200: ReplicaJson } },
      handler: async (request) => {
        const { agentId, replicaId } = request.params
        const agent = await ownedAgent(db, scopeOf(request), agentId)
        await replicaOf(db, agentId, replicaId)
        await submitCommand(deps, schema.parse({
          ...envelope(agent.client_id, agentId, eventIdOf(request.headers)), type: schema.shape.type.value, data: { replicaId },
        }))
        return replicaJson(await replicaOf(db, agentId, replicaId))
      },
    })
  }
}
