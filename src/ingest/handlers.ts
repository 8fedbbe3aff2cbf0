/**
 * The handlers a consumed batch goes through, in order: the agent rules first
 * (they decide), then the projections (they fold what was stored and decided).
 */
import { instanceMetricsProjection } from '../projections/instance-metrics.projection.js'
import { pricingHistoryProjection } from '../projections/pricing-history.projection.js'
import type { EventHandler } from './pipeline.js'

export function ingestionHandlers(): EventHandler[] {
  return [pricingHistoryProjection, instanceMetricsProjection]
}
