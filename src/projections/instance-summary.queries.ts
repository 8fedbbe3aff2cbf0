/**
 * The instance panel's summary: how long the agent's current instance has
 * run, its switches, and the savings cost_records accrued for the agent.
 */
import { sql, type Kysely } from 'kysely'
import type { AgentRow, Database } from '../db/database.js'
import { fromDbTime, toDbTime } from '../db/time.js'

const DAY = 86_400_000
const round = (n: number, places: number) => Math.round(n * 10 ** places) / 10 ** places

export async function instanceSummary(db: Kysely<Database>, agent: AgentRow, now = new Date()) {
  const weekAgo = toDbTime(new Date(now.getTime() - 7 * DAY))
  const monthAgo = toDbTime(new Date(now.getTime() - 30 * DAY)).slice(0, 10)
  const [switches, savings, since] = await Promise.all([
    db.selectFrom('instance_switches').where('agent_id', '=', agent.id)
      .select((eb) => [eb.fn.countAll<number>().as('total'), sql<number>`COALESCE(SUM(switched_at >= ${weekAgo}), 0)`.as('week')])
      .executeTakeFirstOrThrow(),
    db.selectFrom('cost_records').where('agent_id', '=', agent.id)
      .select([sql<string>`COALESCE(SUM(savings), 0)`.as('total'), sql<string>`COALESCE(SUM(CASE WHEN record_date >= ${monthAgo} THEN savings END), 0)`.as('month')])
      .executeTakeFirstOrThrow(),
    // The instance runs since the switch that put it in place, or since the agent registered with it.
    agent.instance_id === null ? undefined : db.selectFrom('instance_switches').select((eb) => eb.fn.max('switched_at').as('at'))
      .where('agent_id', '=', agent.id).where('new_instance_id', '=', agent.instance_id).executeTakeFirst(),
  ])
  const started = fromDbTime(since?.at ?? agent.created_at)
  return {
    uptimeHours: round(Math.max(0, now.getTime() - started.getTime()) / 3_600_000, 2),
    totalSwitches: Number(switches.total), switchesLast7Days: Number(switches.week),
    totalSavings: Number(savings.total), savingsLast30Days: Number(savings.month),
    spotPrice: agent.spot_price === null ? null : Number(agent.spot_price),
    onDemandPrice: agent.ondemand_price === null ? null : Number(agent.ondemand_price),
  }
}
