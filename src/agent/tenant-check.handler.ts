/**
 * Tenant check for the agent-scoped events that only projections fold
 * (pricing.snapshot, instance.metrics): one whose clientId is not its
 * registered agent's client is rejected, so it is dead-lettered and no
 * projection sees it. An agent not registered (yet) has no client to differ
 * from: its pricing and metrics are accepted. One read per batch; it runs
 * after the agent rules, so a registration in the same batch counts.
 */
import type { EventType } from '../events/schemas.js'
import type { EventHandler } from '../log/pipeline.js'

export const tenantCheckHandler: EventHandler = {
  name: 'tenant-check',
  handles: new Set<EventType>(['pricing.snapshot', 'instance.metrics']),
  async apply(trx, events, ctx) {
    const ids = [...new Set(events.map((e) => e.agentId))]
    const owners = new Map((await trx.selectFrom('agents').select(['id', 'client_id']).where('id', 'in', ids).execute())
      .map((a) => [a.id, a.client_id]))
    for (const e of events) {
      const owner = owners.get(e.agentId)
      if (owner !== undefined && owner !== e.clientId) ctx.reject(e, `${e.type}: agent ${e.agentId} belongs to another client`)
    }
  },
}
