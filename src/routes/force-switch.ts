/**
 * The instance panel's force switch: a user.switch_requested through the
 * agent rules (to on-demand, or to a spot instance in another pool of the
 * agent's instance type and region). The rules answer with a
 * command.switch_instance for the agent, which starts the new instance and
 * reports it (agent.instance_switched): the answer says the command is queued,
 * not that the switch is done.
 */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { SwitchRequestedSchema } from '../agent/agent.events.js'
import { agentOfInstance } from '../agent/agent.queries.js'
import { PoolIdSchema } from '../events/schemas.js'
import { scopeOf } from '../plugins/auth.js'
import { type CommandDeps, eventIdOf, submitCommand } from './commands.js'
import { ErrorJson, IdempotencyHeaders, InstanceParams } from './schemas.js'

const Body = z.discriminatedUnion('target', [
  z.object({ target: z.literal('ondemand') }),
  z.object({ target: z.literal('pool'), pool_id: PoolIdSchema }),
])

export const forceSwitchRoutes: FastifyPluginAsyncZod<CommandDeps> = async (fastify, deps) => {
  fastify.post('/api/client/instances/:instanceId/force-switch', {
    schema: {
      tags: ['instances'], params: InstanceParams, headers: IdempotencyHeaders, body: Body,
      response: {
        202: z.object({
          success: z.literal(true), queued: z.literal(true), agentId: z.string(), instanceId: z.string(),
          target: z.enum(['ondemand', 'pool']), poolId: z.string().nullable(), requestId: z.string(), message: z.string(),
        }),
        409: ErrorJson,
      },
    },
  }, async (request, reply) => {
    const agent = await agentOfInstance(deps.db, scopeOf(request), request.params.instanceId)
    const b = request.body
    const event = await submitCommand(deps, SwitchRequestedSchema.parse({
      eventId: eventIdOf(request.headers), version: 1, occurredAt: new Date().toISOString(),
      clientId: agent.client_id, agentId: agent.id, type: 'user.switch_requested',
      data: b.target === 'pool' ? { target: 'pool', poolId: b.pool_id } : { target: 'ondemand' },
    }))
    const poolId = b.target === 'pool' ? b.pool_id : null
    return reply.code(202).send({
      success: true as const, queued: true as const, agentId: agent.id, instanceId: request.params.instanceId, target: b.target, poolId,
      requestId: event.eventId, message: `switch to ${poolId ?? 'on-demand'} sent to the agent; it reports the new instance when it runs`,
    })
  })
}
