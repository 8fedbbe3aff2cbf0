/**
 * Tenant check for the agent-scoped events that only projections fold
 * (pricing.snapshot, instance.metrics): a decider that rejects one whose
 * clientId is not its registered agent's client, so it is dead-lettered and
 * no projection sees it. An agent not registered (yet) has no client to
 * differ from: its pricing and metrics are accepted. One read per batch, no
 * lock: an agent's client never changes once registered.
 */
import type { Decider, Verdict } from '../log/decider.js'

type Checked = 'pricing.snapshot' | 'instance.metrics'

export const tenantCheckDecider: Decider<Checked> = {
  name: 'tenant-check',
  handles: ['pricing.snapshot', 'instance.metrics'],
  async lock() {},
  async decide(trx, inputs) {
    const ids = [...new Set(inputs.map((e) => e.agentId))]
    const owners = new Map((await trx.selectFrom('agents').select(['id', 'client_id']).where('id', 'in', ids).execute())
      .map((a) => [a.id, a.client_id]))
    const verdicts = new Map<string, Verdict>()
    for (const e of inputs) {
      const owner = owners.get(e.agentId)
      if (owner !== undefined && owner !== e.clientId) {
        verdicts.set(e.eventId, { decisions: [], commands: [], rejection: `${e.type}: agent ${e.agentId} belongs to another client`, rejectionCode: 'other_client' })
      }
    }
    return verdicts
  },
}
