/**
 * User requests: what the HTTP commands become before the deciders see them.
 * Same envelope as the wire contract, so the log stores one shape.
 */
import { z } from 'zod'
import { EnvelopeSchema, PoolIdSchema, ReplicaIdSchema, SwitchTargetSchema } from '../events/schemas.js'

function defineRequest<const T extends string, D extends z.ZodObject>(type: T, data: D) {
  return EnvelopeSchema.extend({ type: z.literal(type), version: z.literal(1), data })
}

/** The HTTP layer generates replicaId, so it can answer with it before the agent reports anything. */
export const ReplicaCreateRequestedSchema = defineRequest('user.replica_create_requested', z.object({
  replicaId: ReplicaIdSchema, poolId: PoolIdSchema.optional(),
}))
export const ReplicaPromoteRequestedSchema = defineRequest('user.replica_promote_requested', z.object({ replicaId: ReplicaIdSchema }))
export const ReplicaDeleteRequestedSchema = defineRequest('user.replica_delete_requested', z.object({ replicaId: ReplicaIdSchema }))

/** The instance panel's force switch: to on-demand, or to a spot instance in another pool of the agent's type and region. */
export const SwitchRequestedSchema = defineRequest('user.switch_requested', z.object({
  target: SwitchTargetSchema, poolId: PoolIdSchema.optional(),
}))

export const UserRequestSchema = z.discriminatedUnion('type', [
  ReplicaCreateRequestedSchema, ReplicaPromoteRequestedSchema, ReplicaDeleteRequestedSchema, SwitchRequestedSchema,
])
export type UserRequest = z.infer<typeof UserRequestSchema>
export type UserRequestType = UserRequest['type']
export const USER_REQUEST_TYPES: readonly UserRequestType[] = UserRequestSchema.options.map((o) => o.shape.type.value)
