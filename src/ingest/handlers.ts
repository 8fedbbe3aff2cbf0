/**
 * The handlers a consumed batch goes through, in order: the agent rules first
 * (they decide), then the projections (they fold what was stored and decided).
 */
import { agentHandler, type AgentHandlerOptions } from '../agent/agent.handler.js'
import { isEventOf } from '../events/schemas.js'
import { instanceMetricsProjection } from '../projections/instance-metrics.projection.js'
import { pricingHistoryProjection } from '../projections/pricing-history.projection.js'
import type { EventHandler } from '../log/pipeline.js'

export const DEFAULT_AGENT_OPTIONS: AgentHandlerOptions = { rebalancePolicy: 'replica', recentInterruptionMinutes: 10 }

// Until the core's projection wiring lands: pricing snapshots are never rejected and cause no decisions.
export const pricingHistoryHandler: EventHandler = {
  name: pricingHistoryProjection.name,
  handles: new Set(pricingHistoryProjection.handles),
  apply: (trx, events) => pricingHistoryProjection.apply(trx, events.filter((e) => isEventOf(e, 'pricing.snapshot'))),
}

export function ingestionHandlers(agent: AgentHandlerOptions = DEFAULT_AGENT_OPTIONS): EventHandler[] {
  return [agentHandler(agent), pricingHistoryHandler, instanceMetricsProjection]
}
