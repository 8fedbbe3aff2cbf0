/**
 * The Models tab of the client view: per agent, the last thing the rules did
 * for it (a switch or failover, else the response to its last interruption
 * signal) and the health of its price reports (the price points the cost
 * projection recorded in the last PRICING_WINDOW_MS). Reads the switch,
 * interruption and cost projections' tables, one statement each.
 */
import type { Kysely } from 'kysely'
import type { Database } from '../db/database.js'
import { isoFromDb, toDbTime } from '../db/time.js'
import { ONLINE_WINDOW_MS } from '../clients/fleet-stats.queries.js'

export const PRICING_WINDOW_MS = 5 * 60_000
/** Healthy with at least this many price reports in the window (the UI says "≥ 5 required"). */
export const HEALTHY_REPORTS = 5
const num = (d: string | null) => (d === null ? 0 : Number(d))

/** Elapsed time as the tab shows it: the largest whole unit. */
export function elapsed(fromIso: string, now: Date) {
  const s = Math.max(0, Math.floor((now.getTime() - Date.parse(fromIso)) / 1000))
  const [value, unit] = s < 60 ? [s, 'sec'] : s < 3600 ? [Math.floor(s / 60), 'min'] : s < 86_400 ? [Math.floor(s / 3600), 'hr'] : [Math.floor(s / 86_400), 'day']
  return { value, unit, formatted: `${value} ${unit}` }
}

export async function agentDecisions(db: Kysely<Database>, clientId: string, now = new Date()) {
  const agents = await db.selectFrom('agents').select(['id', 'hostname', 'logical_agent_id', 'last_heartbeat_at'])
    .where('client_id', '=', clientId).orderBy('created_at').orderBy('id').execute()
  if (agents.length === 0) return []
  const ids = agents.map((a) => a.id)
  const [switches, signals, points] = await Promise.all([
    db.selectFrom('instance_switches').select(['agent_id', 'new_mode', 'switched_at']).where('client_id', '=', clientId)
      .where('agent_id', 'in', ids).orderBy('switched_at', 'desc').orderBy('id', 'desc').limit(ids.length * 4).execute(),
    db.selectFrom('spot_interruption_events').select(['agent_id', 'response_action', 'detected_at']).where('client_id', '=', clientId)
      .where('agent_id', 'in', ids).orderBy('detected_at', 'desc').orderBy('id', 'desc').limit(ids.length * 4).execute(),
    db.selectFrom('cost_price_points').select(['agent_id', 'at', 'eff_spot_price', 'eff_ondemand_price'])
      .where('agent_id', 'in', ids).where('at', '>=', toDbTime(new Date(now.getTime() - PRICING_WINDOW_MS)))
      .where('kind', 'in', ['registered', 'heartbeat']).orderBy('agent_id').orderBy('at', 'desc').execute(),
  ])
  const first = <R extends { agent_id: string | null }>(rows: readonly R[]) => {
    const m = new Map<string, R>()
    for (const r of rows) if (r.agent_id !== null && !m.has(r.agent_id)) m.set(r.agent_id, r)
    return m
  }
  const lastSwitch = first(switches)
  const lastSignal = first(signals)
  const online = toDbTime(new Date(now.getTime() - ONLINE_WINDOW_MS))
  return agents.map((a) => {
    const sw = lastSwitch.get(a.id)
    const sig = lastSignal.get(a.id)
    const swAt = sw === undefined ? null : isoFromDb(sw.switched_at)
    const sigAt = sig === undefined ? null : isoFromDb(sig.detected_at)
    const last = swAt !== null && (sigAt === null || swAt >= sigAt)
      ? { type: sw?.new_mode === 'on-demand' ? 'switch_ondemand' : 'switch_spot', at: swAt, action: 'switch' }
      : sigAt !== null ? { type: sig?.response_action === 'failover' ? 'switch_spot' : 'stay', at: sigAt, action: sig?.response_action ?? 'no-action' } : null
    const reports = points.filter((p) => p.agent_id === a.id).map((p) => ({
      time: isoFromDb(p.at)!, spotPrice: num(p.eff_spot_price), onDemandPrice: num(p.eff_ondemand_price),
    }))
    return {
      agentId: a.id, agentName: a.hostname ?? a.logical_agent_id ?? a.id,
      status: a.last_heartbeat_at !== null && a.last_heartbeat_at >= online ? 'online' as const : 'offline' as const,
      lastDecision: last === null ? null : { type: last.type, action: last.action, at: last.at, elapsed: elapsed(last.at, now) },
      pricingHealth: {
        status: reports.length >= HEALTHY_REPORTS ? 'healthy' as const : 'insufficient' as const,
        recentReportsCount: reports.length, recentReports: reports.slice(0, 10),
      },
    }
  })
}
