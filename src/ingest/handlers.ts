/**
 * The handlers a consumed batch goes through, in order: the agent rules first
 * (they decide), the tenant check of pricing and metrics, then the
 * projections (they fold what was stored and decided, accepted inputs only).
 */
import { agentHandler, type AgentHandlerOptions } from '../agent/agent.handler.js'
import { tenantCheckHandler } from '../agent/tenant-check.handler.js'
import { instanceMetricsProjection } from '../projections/instance-metrics.projection.js'
import { pricingHistoryProjection } from '../projections/pricing-history.projection.js'
import type { EventHandler } from '../log/pipeline.js'

export const DEFAULT_AGENT_OPTIONS: AgentHandlerOptions = { rebalancePolicy: 'replica', recentInterruptionMinutes: 10 }

export function ingestionHandlers(agent: AgentHandlerOptions = DEFAULT_AGENT_OPTIONS): EventHandler[] {
  return [agentHandler(agent), tenantCheckHandler, pricingHistoryProjection, instanceMetricsProjection]
}
