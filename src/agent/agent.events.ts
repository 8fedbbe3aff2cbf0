/**
 * The agent aggregate's view of the stored events: the wire types it handles,
 * its inputs (those plus user requests) and what evolve() folds (inputs and
 * decisions). The user-request and decision schemas live in the core
 * (src/log/), re-exported here for the rules.
 */
import type { EventOf } from '../events/schemas.js'
import { DECISION_TYPES, type DecisionEvent } from '../log/decisions.js'
import { USER_REQUEST_TYPES, type UserRequest } from '../log/user-requests.js'

export * from '../log/decisions.js'
export * from '../log/user-requests.js'

/** Wire types the agent rules handle (config toggles from HTTP arrive as agent.config_changed). */
export const AGENT_WIRE_TYPES = [
  'spot.rebalance_recommendation', 'spot.termination_notice',
  'replica.launched', 'replica.sync_progress', 'replica.ready', 'replica.promoted', 'replica.terminated', 'replica.failed',
  'agent.registered', 'agent.heartbeat', 'agent.instance_switched', 'agent.config_changed',
] as const
export type AgentWireType = typeof AGENT_WIRE_TYPES[number]
export type AgentWireEvent = EventOf<AgentWireType>

/** Everything decide() accepts. */
export type AgentInput = AgentWireEvent | UserRequest
export type AgentInputType = AgentInput['type']
export type InputOf<T extends AgentInputType> = Extract<AgentInput, { type: T }>

/** What evolve() folds: inputs and the decisions taken on them. */
export type AgentEvent = AgentInput | DecisionEvent

export function isDecision(e: AgentEvent): e is DecisionEvent {
  return e.type.startsWith('decision.')
}

const AGENT_LOG_TYPES = new Set<string>([...AGENT_WIRE_TYPES, ...USER_REQUEST_TYPES, ...DECISION_TYPES])

/** Whether an event_log row of this type belongs to the agent aggregate's stream (commands do not: they change no state). */
export function isAgentEventType(type: string): boolean {
  return AGENT_LOG_TYPES.has(type)
}
