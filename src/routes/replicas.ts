/**
 * Replica routes: list an agent's replicas or the client's live ones, the
 * user commands (create, promote, delete) that go through the agent rules as
 * user.replica_* events, and the sync status an agent may report over HTTP
 * instead of Kafka (the same replica.sync_progress event, the same rules). The route generates the replica id, so it can answer
 * with it before the agent reports anything.
 */
import { randomUUID } from 'node:crypto'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { z } from 'zod'
import {
  ReplicaCreateRequestedSchema, ReplicaDeleteRequestedSchema, ReplicaPromoteRequestedSchema,
} from '../agent/agent.events.js'
import { PoolIdSchema, ReplicaSyncProgressSchema } from '../events/schemas.js'
import { NotFoundError, parseInput } from '../errors.js'
import { clientOf, ownedAgent, sameClient } from '../plugins/auth.js'
import { type CommandDeps, eventIdOf, submitCommand } from './commands.js'
import { activeReplicaJson, replicaJson } from './views.js'

const ClientParams = z.object({ clientId: z.uuid() })
const AgentParams = z.object({ agentId: z.uuid() })
const ReplicaParams = z.object({ agentId: z.uuid(), replicaId: z.uuid() })
const CreateBody = z.object({ poolId: PoolIdSchema.optional() })
const SyncBody = ReplicaSyncProgressSchema.shape.data.omit({ replicaId: true })

export async function replicaRoutes(fastify: FastifyInstance, deps: CommandDeps): Promise<void> {
  const { db } = deps
  const replicaOf = async (agentId: string, replicaId: string) => {
    const row = await db.selectFrom('replica_instances').selectAll().where('id', '=', replicaId).where('agent_id', '=', agentId).executeTakeFirst()
    if (row === undefined) throw new NotFoundError(`replica ${replicaId} not found`)
    return row
  }
  const envelope = (clientId: string, agentId: string, eventId: string) => ({
    eventId, version: 1, occurredAt: new Date().toISOString(), clientId, agentId,
  })

  fastify.get('/api/client/:clientId/replicas', async (request) => {
    const { clientId } = parseInput(ClientParams, request.params, 'params')
    sameClient(request, clientId)
    const rows = await db.selectFrom('v_active_replicas').selectAll().where('client_id', '=', clientId)
      .orderBy('created_at').orderBy('replica_id').execute()
    return rows.map(activeReplicaJson)
  })

  fastify.get('/api/agents/:agentId/replicas', async (request) => {
    const { agentId } = parseInput(AgentParams, request.params, 'params')
    await ownedAgent(db, clientOf(request).id, agentId)
    const rows = await db.selectFrom('replica_instances').selectAll().where('agent_id', '=', agentId)
      .orderBy('created_at', 'desc').orderBy('id').execute()
    return rows.map(replicaJson)
  })

  fastify.post('/api/agents/:agentId/replicas', async (request, reply) => {
    const { agentId } = parseInput(AgentParams, request.params, 'params')
    const body = parseInput(CreateBody, request.body ?? {}, 'body')
    const client = clientOf(request)
    await ownedAgent(db, client.id, agentId)
    const event = await submitCommand(deps, ReplicaCreateRequestedSchema.parse({
      ...envelope(client.id, agentId, eventIdOf(request)), type: 'user.replica_create_requested',
      data: { replicaId: randomUUID(), ...body },
    }))
    return reply.code(201).send(replicaJson(await replicaOf(agentId, event.data.replicaId)))
  })

  /** Promote and delete: a user request naming one of the agent's replicas, answered with the replica. */
  const replicaRequest = (schema: typeof ReplicaPromoteRequestedSchema | typeof ReplicaDeleteRequestedSchema) =>
    async (request: FastifyRequest) => {
      const { agentId, replicaId } = parseInput(ReplicaParams, request.params, 'params')
      const client = clientOf(request)
      await ownedAgent(db, client.id, agentId)
      await replicaOf(agentId, replicaId)
      await submitCommand(deps, schema.parse({
        ...envelope(client.id, agentId, eventIdOf(request)), type: schema.shape.type.value, data: { replicaId },
      }))
      return replicaJson(await replicaOf(agentId, replicaId))
    }
  fastify.post('/api/agents/:agentId/replicas/:replicaId/sync-status', async (request) => {
    const { agentId, replicaId } = parseInput(ReplicaParams, request.params, 'params')
    const body = parseInput(SyncBody, request.body ?? {}, 'body')
    const client = clientOf(request)
    await ownedAgent(db, client.id, agentId)
    await replicaOf(agentId, replicaId)
    await submitCommand(deps, ReplicaSyncProgressSchema.parse({
      ...envelope(client.id, agentId, eventIdOf(request)), type: 'replica.sync_progress', data: { replicaId, ...body },
    }))
    return replicaJson(await replicaOf(agentId, replicaId))
  })
  fastify.post('/api/agents/:agentId/replicas/:replicaId/promote', replicaRequest(ReplicaPromoteRequestedSchema))
  fastify.delete('/api/agents/:agentId/replicas/:replicaId', replicaRequest(ReplicaDeleteRequestedSchema))
}
