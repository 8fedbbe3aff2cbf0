/**
 * The pipeline every door goes through (DESIGN §9 floor 4): the deciders,
 * then the projections, in this order. Adding a projection is a file in
 * src/projections/ and a line here.
 */
import { type AgentHandlerOptions, agentDecider } from './agent/agent.handler.js'
import { tenantCheckDecider } from './agent/tenant-check.decider.js'
import type { Pipeline } from './log/core.js'
import type { AnyProjection } from './log/projection.js'
import { costProjection } from './projections/cost.projection.js'
import { instanceMetricsProjection } from './projections/instance-metrics.projection.js'
import { interruptionsProjection } from './projections/interruptions.projection.js'
import { notificationsProjection } from './projections/notifications.projection.js'
import { poolReliabilityProjection } from './projections/pool-reliability.projection.js'
import { pricingHistoryProjection } from './projections/pricing-history.projection.js'
import { switchesProjection } from './projections/switches.projection.js'

export const DEFAULT_AGENT_OPTIONS: AgentHandlerOptions = { rebalancePolicy: 'replica', recentInterruptionMinutes: 10 }

export const PROJECTIONS: readonly AnyProjection[] = [
  pricingHistoryProjection,
  instanceMetricsProjection,
  interruptionsProjection,
  switchesProjection,
  costProjection,
  poolReliabilityProjection,
  notificationsProjection,
]

export function pipeline(agent: AgentHandlerOptions = DEFAULT_AGENT_OPTIONS): Pipeline {
  // The tenant check after the agent rules: a registration earlier in the batch counts.
  return { deciders: [agentDecider(agent), tenantCheckDecider], projections: PROJECTIONS }
}
