/**
 * Client agent routes: the client's agents, and the configuration form
 * (auto switching, manual replica, auto terminate), which becomes an
 * agent.config_changed event through the agent rules.
 */
import type { FastifyInstance } from 'fastify'
import { z } from 'zod'
import { newEvent } from '../events/producer.js'
import { AgentConfigChangedSchema } from '../events/schemas.js'
import { parseInput } from '../errors.js'
import { clientOf, ownedAgent, sameClient } from '../plugins/auth.js'
import { type CommandDeps, eventIdOf, submitCommand } from './commands.js'
import { agentJson, configJson } from './views.js'

const ClientParams = z.object({ clientId: z.uuid() })
const AgentParams = z.object({ agentId: z.uuid() })
const ConfigBody = AgentConfigChangedSchema.shape.data

export async function agentRoutes(fastify: FastifyInstance, deps: CommandDeps): Promise<void> {
  fastify.get('/api/client/:clientId/agents', async (request) => {
    const { clientId } = parseInput(ClientParams, request.params, 'params')
    sameClient(request, clientId)
    const rows = await deps.db.selectFrom('agents').selectAll().where('client_id', '=', clientId).orderBy('created_at').orderBy('id').execute()
    return rows.map(agentJson)
  })

  fastify.post('/api/client/agents/:agentId/config', async (request) => {
    const { agentId } = parseInput(AgentParams, request.params, 'params')
    const data = parseInput(ConfigBody, request.body ?? {}, 'body')
    const client = clientOf(request)
    await ownedAgent(deps.db, client.id, agentId)
    await submitCommand(deps, newEvent('agent.config_changed', { eventId: eventIdOf(request), clientId: client.id, agentId, data }))
    const agent = await ownedAgent(deps.db, client.id, agentId)
    return { agentId, ...configJson(agent), currentReplicaId: agent.current_replica_id }
  })
}
