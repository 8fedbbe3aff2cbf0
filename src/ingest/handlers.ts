/**
 * The handlers a consumed batch goes through, in order: the agent rules first
 * (they decide), then the projections (they fold what was stored and decided).
 */
import { agentHandler, type AgentHandlerOptions } from '../agent/agent.handler.js'
import { instanceMetricsProjection } from '../projections/instance-metrics.projection.js'
import { pricingHistoryProjection } from '../projections/pricing-history.projection.js'
import type { EventHandler } from '../log/pipeline.js'

export const DEFAULT_AGENT_OPTIONS: AgentHandlerOptions = { rebalancePolicy: 'replica', recentInterruptionMinutes: 10 }

export function ingestionHandlers(agent: AgentHandlerOptions = DEFAULT_AGENT_OPTIONS): EventHandler[] {
  return [agentHandler(agent), pricingHistoryProjection, instanceMetricsProjection]
}
