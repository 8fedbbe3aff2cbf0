/**
 * Client agent routes: the client's agents as the Agents tab reads them, and
 * the configuration form (auto switching, manual replica, auto terminate,
 * terminate wait), which becomes an agent.config_changed event through the
 * agent rules.
 */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { configJson, listAgents, ownedAgent } from '../agent/agent.queries.js'
import { newEvent } from '../events/producer.js'
import { AgentConfigChangedSchema } from '../events/schemas.js'
import { clientOf, sameClient } from '../plugins/auth.js'
import { type CommandDeps, eventIdOf, submitCommand } from './commands.js'
import { AgentJson, AgentParams, ClientParams, ConfigResult, IdempotencyHeaders } from './schemas.js'

const tags = ['agents']

export const agentRoutes: FastifyPluginAsyncZod<CommandDeps> = async (fastify, deps) => {
  fastify.get('/api/client/:clientId/agents', {
    schema: { tags, params: ClientParams, response: { 200: z.array(AgentJson) } },
  }, async (request) => {
    sameClient(request, request.params.clientId)
    return listAgents(deps.db, request.params.clientId)
  })

  fastify.post('/api/client/agents/:agentId/config', {
    schema: { tags, params: AgentParams, headers: IdempotencyHeaders, body: AgentConfigChangedSchema.shape.data, response: { 200: ConfigResult } },
  }, async (request) => {
    const { agentId } = request.params
    const client = clientOf(request)
    await ownedAgent(deps.db, client.id, agentId)
    await submitCommand(deps, newEvent('agent.config_changed', { eventId: eventIdOf(request.headers), clientId: client.id, agentId, data: request.body }))
    const agent = await ownedAgent(deps.db, client.id, agentId)
    const config = configJson(agent)
    return {
      success: true as const, agentId, ...config, currentReplicaId: agent.current_replica_id,
      auto_switch_enabled: config.autoSwitchEnabled, manual_replica_enabled: config.manualReplicaEnabled,
      auto_terminate_enabled: config.autoTerminateEnabled,
    }
  })
}
