/**
 * Client agent routes: the client's agents as the Agents tab reads them, and
 * the agent controls: the configuration form (auto switching, manual replica,
 * auto terminate, terminate wait), the agent's on/off switch and the two
 * setting toggles of the Agents tab. Each becomes one agent.config_changed
 * event through the agent rules, so mutual exclusion and the replica it
 * launches or ends are the rules', whichever route was used.
 */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import type { FastifyRequest } from 'fastify'
import { z } from 'zod'
import { configJson, listAgents, ownedAgent } from '../agent/agent.queries.js'
import { newEvent } from '../events/producer.js'
import { AgentConfigChangedSchema } from '../events/schemas.js'
import { sameClient, scopeOf } from '../plugins/auth.js'
import { type CommandDeps, eventIdOf, submitCommand } from './commands.js'
import { AgentJson, AgentParams, ClientParams, ConfigResult, IdempotencyHeaders } from './schemas.js'

const tags = ['agents']
type ConfigChange = z.infer<typeof AgentConfigChangedSchema.shape.data>

const ToggleBody = z.object({ enabled: z.boolean() })
/** The Agents tab's switches, in its snake_case; at least one. */
const SettingsBody = z.object({ auto_switch_enabled: z.boolean().optional(), auto_terminate_enabled: z.boolean().optional() })
  .refine((b) => b.auto_switch_enabled !== undefined || b.auto_terminate_enabled !== undefined, { message: 'auto_switch_enabled or auto_terminate_enabled is required' })

async function configure(deps: CommandDeps, request: FastifyRequest & { headers: { 'idempotency-key'?: string | undefined } }, agentId: string, data: ConfigChange) {
  const scope = scopeOf(request)
  const owned = await ownedAgent(deps.db, scope, agentId)
  await submitCommand(deps, newEvent('agent.config_changed', { eventId: eventIdOf(request.headers), clientId: owned.client_id, agentId, data }))
  const agent = await ownedAgent(deps.db, scope, agentId)
  const config = configJson(agent)
  return {
    success: true as const, agentId, ...config, currentReplicaId: agent.current_replica_id,
    auto_switch_enabled: config.autoSwitchEnabled, manual_replica_enabled: config.manualReplicaEnabled,
    auto_terminate_enabled: config.autoTerminateEnabled,
    replicaPending: agent.manual_replica_pending === 1,
    ...(agent.manual_replica_pending === 1 ? { message: 'manual replica pending: no other pool of this instance type is known yet; it is launched at the agent\'s next report once one is' } : {}),
  }
}

export const agentRoutes: FastifyPluginAsyncZod<CommandDeps> = async (fastify, deps) => {
  fastify.get('/api/client/:clientId/agents', {
    schema: { tags, params: ClientParams, response: { 200: z.array(AgentJson) } },
  }, async (request) => {
    sameClient(request, request.params.clientId)
    return listAgents(deps.db, request.params.clientId)
  })

  fastify.post('/api/client/agents/:agentId/config', {
    schema: { tags, params: AgentParams, headers: IdempotencyHeaders, body: AgentConfigChangedSchema.shape.data, response: { 200: ConfigResult } },
  }, async (request) => configure(deps, request, request.params.agentId, request.body))

  fastify.post('/api/client/agents/:agentId/toggle-enabled', {
    schema: {
      tags, params: AgentParams, headers: IdempotencyHeaders, body: ToggleBody, response: { 200: ConfigResult },
      description: 'Off: the service takes no automatic action for the agent; termination notices are still answered.',
    },
  }, async (request) => configure(deps, request, request.params.agentId, { enabled: request.body.enabled }))

  fastify.post('/api/client/agents/:agentId/settings', {
    schema: { tags, params: AgentParams, headers: IdempotencyHeaders, body: SettingsBody, response: { 200: ConfigResult } },
  }, async (request) => {
    const b = request.body
    return configure(deps, request, request.params.agentId, {
      ...(b.auto_switch_enabled === undefined ? {} : { autoSwitchEnabled: b.auto_switch_enabled }),
      ...(b.auto_terminate_enabled === undefined ? {} : { autoTerminateEnabled: b.auto_terminate_enabled }),
    })
  })
}
