/** Read queries over client_savings_daily and cost_records (the savings charts). */
import { type Kysely, sql } from 'kysely'
import type { Database } from '../db/database.js'

export type SavingsRange = 'daily' | 'weekly' | 'monthly'

export interface SavingsPoint {
  /** First day of the period, 'YYYY-MM-DD' (weeks start on Monday). */
  period: string
  baselineCost: string
  actualCost: string
  savings: string
  /** savings / baseline × 100, two places; '0' without a baseline. */
  savingsPercentage: string
  instanceHours: string
  switchCount: number
  interruptionCount: number
  failoverCount: number
}

const PERIOD: Record<SavingsRange, string> = {
  daily: 'date',
  weekly: 'date - INTERVAL WEEKDAY(date) DAY',
  monthly: "DATE_FORMAT(date, '%Y-%m-01')",
}

/** A client's savings per day, week or month over [from, to) (dates), oldest first; sums are exact DECIMAL. */
export async function clientSavings(db: Kysely<Database>, clientId: string, range: SavingsRange, from: string, to: string): Promise<SavingsPoint[]> {
  const period = sql.raw(PERIOD[range])
  const r = await sql<{ period: string, b: string, a: string, s: string, h: string, sw: string, i: string, f: string }>`
    SELECT CAST(${period} AS DATE) AS period, SUM(baseline_cost) AS b, SUM(actual_cost) AS a, SUM(savings) AS s,
           SUM(instance_hours) AS h, SUM(switch_count) AS sw, SUM(interruption_count) AS i, SUM(failover_count) AS f
      FROM client_savings_daily
     WHERE client_id = ${clientId} AND date >= ${from} AND date < ${to}
     GROUP BY period ORDER BY period`.execute(db)
  return r.rows.map((x) => ({
    period: x.period, baselineCost: x.b, actualCost: x.a, savings: x.s, savingsPercentage: percentage(x.s, x.b),
    instanceHours: x.h, switchCount: Number(x.sw), interruptionCount: Number(x.i), failoverCount: Number(x.f),
  }))
}

/** savings / baseline × 100 rounded half up to two places, in exact decimal arithmetic. */
export function percentage(savings: string, baseline: string): string {
  const scale = (v: string) => BigInt(v.replace('.', '').replace(/^(-?)0+(?=\d)/, '$1')) * 10n ** BigInt(12 - (v.split('.')[1]?.length ?? 0))
  const b = scale(baseline)
  if (b <= 0n) return '0'
  const s = scale(savings) * 10_000n
  const q = (2n * (s < 0n ? -s : s) + b) / (2n * b)
  const v = s < 0n ? -q : q
  const abs = v < 0n ? -v : v
  return `${v < 0n ? '-' : ''}${abs / 100n}.${String(abs % 100n).padStart(2, '0')}`
}

/** How far back each range of the savings chart reaches: 30 days, 12 weeks, 12 months (UTC, today included). */
export function savingsWindow(range: SavingsRange, now = new Date()): { from: string, to: string } {
  const y = now.getUTCFullYear(), m = now.getUTCMonth(), d = now.getUTCDate()
  const day = (date: Date) => date.toISOString().slice(0, 10)
  const to = day(new Date(Date.UTC(y, m, d + 1)))
  if (range === 'daily') return { from: day(new Date(Date.UTC(y, m, d - 29))), to }
  if (range === 'weekly') return { from: day(new Date(Date.UTC(y, m, d - ((now.getUTCDay() + 6) % 7) - 11 * 7))), to }
  return { from: day(new Date(Date.UTC(y, m - 11, 1))), to }
}

/**
 * The savings chart: per day, week (from Monday) or month, `name` the period's
 * first day, what on-demand would have cost, what the fleet cost, and the
 * difference (numbers, as the UI reads them; the sums are exact in SQL).
 */
export async function savingsChart(db: Kysely<Database>, clientId: string, range: SavingsRange, now = new Date()) {
  const { from, to } = savingsWindow(range, now)
  const rows = await clientSavings(db, clientId, range, from, to)
  return rows.map((r) => ({
    name: r.period, savings: Number(r.savings), onDemandCost: Number(r.baselineCost), modelCost: Number(r.actualCost),
    savingsPercentage: Number(r.savingsPercentage),
  }))
}

/** The last 12 months: what on-demand would have cost (baseline) and what the fleet cost (actual), per 'YYYY-MM'. */
export async function savingsTrend(db: Kysely<Database>, clientId: string, now = new Date()) {
  const { from, to } = savingsWindow('monthly', now)
  const rows = await clientSavings(db, clientId, 'monthly', from, to)
  return rows.map((r) => ({ month: r.period.slice(0, 7), baseline: Number(r.baselineCost), actual: Number(r.actualCost) }))
}
