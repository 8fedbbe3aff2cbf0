/**
 * The cost projection over a batch of more agents than one heads statement
 * takes (a replay page holds thousands): 1,900 agents, each with points in
 * order and one late point for every third agent, in batches as big as a
 * replay's; the rows equal what compute_daily_savings recomputes for the day.
 */
import { randomUUID } from 'node:crypto'
import { sql } from 'kysely'
import t from 'tap'
import { applyProjections } from '../../src/log/projection.js'
import type { StoredEvent } from '../../src/log/stored-event.js'
import { costProjection } from '../../src/projections/cost.projection.js'
import { freshDatabase } from '../helper-db.js'

const AGENTS = 1900
const clientId = randomUUID()
const agents = Array.from({ length: AGENTS }, () => randomUUID())
const base = Date.parse('2026-11-20T01:00:00Z')

const heartbeat = (agentId: string, at: number, price: string): StoredEvent => ({
  eventId: randomUUID(), version: 1, occurredAt: new Date(at).toISOString(), clientId, agentId, type: 'agent.heartbeat',
  data: { status: 'online', instanceId: `i-${agentId.slice(0, 8)}`, mode: 'spot', poolId: 'm5.large.us-east-1a', spotPrice: price, onDemandPrice: '0.096' },
})

t.test('1,900 agents in one batch: every agent\'s window is read; the rows equal the procedure\'s', async (t) => {
  const { db } = await freshDatabase(t, { migrate: true })
  const apply = (events: StoredEvent[]) => db.transaction().execute((trx) => applyProjections(trx, [costProjection], events))
  await apply(agents.map((a, i) => heartbeat(a, base + i, '0.03')))
  await apply(agents.flatMap((a, i) => [heartbeat(a, base + 3_600_000 + i, '0.031'), heartbeat(a, base + 7_200_000 + i, '0.032')]))
  // Late: between the first two points, so the interval it falls in splits.
  await apply(agents.filter((_, i) => i % 3 === 0).map((a, i) => heartbeat(a, base + 1_800_000 + i, '0.05')))

  const rows = async () => (await sql<Record<string, unknown>>`SELECT agent_id, period_start, period_end, hours, spot_price, actual_cost, baseline_cost, event_id
    FROM cost_records ORDER BY agent_id, period_start`.execute(db)).rows
  const incremental = await rows()
  t.equal(incremental.length, AGENTS * 2 + Math.ceil(AGENTS / 3), 'two intervals per agent, one more where a late point split one')
  await sql`CALL compute_daily_savings('2026-11-20')`.execute(db)
  t.same(await rows(), incremental, 'compute_daily_savings changes no row')
})
