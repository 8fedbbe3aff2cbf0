/**
 * Read queries of the operator's console (the admin pages and the client
 * header), every one filtered by the request's Scope: the operator sees every
 * client, a client's token only its own. Agents count as online when heard
 * from within ONLINE_WINDOW_MS. Money leaves as numbers (dollars).
 */
import { type Kysely, sql } from 'kysely'
import type { Database, Mode } from '../db/database.js'
import { isoFromDb, toDbTime } from '../db/time.js'
import { ONLINE_WINDOW_MS } from './fleet-stats.queries.js'
import type { Scope } from './scope.js'

const n = (v: unknown): number => Number(v ?? 0)
const num = (d: string | null): number | null => (d === null ? null : Number(d))
const onlineSince = (now: Date) => toDbTime(new Date(now.getTime() - ONLINE_WINDOW_MS))
/** The client ids a scope filters on, or null for every client. */
const only = (scope: Scope): string | null => (scope.kind === 'client' ? scope.clientId : null)

/** The header's figures: clients, agents online, pools, savings and switches (automatic against manual). */
export async function consoleStats(db: Kysely<Database>, scope: Scope, now = new Date()) {
  const id = only(scope)
  const since = onlineSince(now)
  const [clients, agents, pools, savings, switches] = await Promise.all([
    db.selectFrom('clients').select((eb) => eb.fn.countAll<number>().as('n')).where('is_active', '=', 1)
      .$if(id !== null, (q) => q.where('id', '=', id ?? '')).executeTakeFirstOrThrow(),
    db.selectFrom('agents').select((eb) => [eb.fn.countAll<number>().as('n'), sql<number>`COALESCE(SUM(last_heartbeat_at >= ${since}), 0)`.as('online')])
      .$if(id !== null, (q) => q.where('client_id', '=', id ?? '')).executeTakeFirstOrThrow(),
    // Pools of the instance types the scope's agents run (every known pool for the operator).
    db.selectFrom('spot_pools').select((eb) => eb.fn.countAll<number>().as('n')).where('is_active', '=', 1)
      .$if(id !== null, (q) => q.where('instance_type', 'in', (eb) => eb.selectFrom('agents').select('instance_type').where('client_id', '=', id ?? '').where('instance_type', 'is not', null)))
      .executeTakeFirstOrThrow(),
    db.selectFrom('client_savings_daily').select(sql<string>`COALESCE(SUM(savings), 0)`.as('total'))
      .$if(id !== null, (q) => q.where('client_id', '=', id ?? '')).executeTakeFirstOrThrow(),
    db.selectFrom('instance_switches').select((eb) => [
      eb.fn.countAll<number>().as('n'),
      sql<number>`COALESCE(SUM(event_trigger IN ('user', 'manual')), 0)`.as('manual'),
    ]).$if(id !== null, (q) => q.where('client_id', '=', id ?? '')).executeTakeFirstOrThrow(),
  ])
  const total = n(switches.n)
  return {
    totalAccounts: n(clients.n), agentsOnline: n(agents.online), agentsTotal: n(agents.n), poolsCovered: n(pools.n),
    totalSavings: Number(savings.total), totalSwitches: total, modelSwitches: total - n(switches.manual), manualSwitches: n(switches.manual),
  }
}

/** Active clients as the client list, the sidebar and the client header read them, oldest first. */
export async function consoleClients(db: Kysely<Database>, scope: Scope, now = new Date(), clientId?: string) {
  const id = only(scope)
  const since = onlineSince(now)
  const rows = await db.selectFrom('clients as c')
    .leftJoin('agents as a', 'a.client_id', 'c.id')
    .select([
      'c.id', 'c.name', 'c.email', 'c.is_active', 'c.created_at',
      (eb) => eb.fn.count<number>('a.id').as('agents'),
      (eb) => eb.fn.count<number>('a.instance_id').as('instances'),
      sql<number>`COALESCE(SUM(a.last_heartbeat_at >= ${since}), 0)`.as('online'),
      (eb) => eb.fn.max('a.last_heartbeat_at').as('last_sync'),
      (eb) => eb.selectFrom('client_savings_daily as s').select(sql<string>`COALESCE(SUM(s.savings), 0)`.as('x')).whereRef('s.client_id', '=', 'c.id').as('savings'),
    ])
    .where('c.is_active', '=', 1)
    .$if(id !== null, (q) => q.where('c.id', '=', id ?? ''))
    .$if(clientId !== undefined, (q) => q.where('c.id', '=', clientId ?? ''))
    .groupBy(['c.id', 'c.name', 'c.email', 'c.is_active', 'c.created_at'])
    .orderBy('c.created_at').orderBy('c.id').execute()
  return rows.map((r) => ({
    id: r.id, name: r.name, email: r.email, status: r.is_active === 1 ? 'active' as const : 'inactive' as const,
    instances: n(r.instances), agentsOnline: n(r.online), agentsTotal: n(r.agents), totalSavings: Number(r.savings ?? 0),
    lastSync: isoFromDb(r.last_sync ?? null), createdAt: isoFromDb(r.created_at),
  }))
}

/** Per UTC day of the last `days`: clients created up to it (count), that day (new), and of those still active (active). */
export async function clientGrowth(db: Kysely<Database>, scope: Scope, days: number, now = new Date()) {
  const id = only(scope)
  const rows = await db.selectFrom('clients').select(['created_at', 'is_active'])
    .$if(id !== null, (q) => q.where('id', '=', id ?? '')).execute()
  const created = rows.map((r) => ({ day: isoFromDb(r.created_at)!.slice(0, 10), active: r.is_active === 1 }))
  const today = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate())
  return Array.from({ length: days }, (_, i) => {
    const date = new Date(today - (days - 1 - i) * 86_400_000).toISOString().slice(0, 10)
    const upTo = created.filter((c) => c.day <= date)
    return { date, count: upTo.length, new: created.filter((c) => c.day === date).length, active: upTo.filter((c) => c.active).length }
  })
}

/** The newest switches, interruption signals and agent registrations, newest first. */
export async function recentActivity(db: Kysely<Database>, scope: Scope, limit: number) {
  const id = only(scope)
  const [switches, signals, agents] = await Promise.all([
    db.selectFrom('instance_switches').select(['id', 'old_instance_id', 'new_instance_id', 'new_pool_id', 'reason', 'switched_at'])
      .$if(id !== null, (q) => q.where('client_id', '=', id ?? '')).orderBy('switched_at', 'desc').orderBy('id', 'desc').limit(limit).execute(),
    db.selectFrom('spot_interruption_events').select(['id', 'signal_type', 'instance_id', 'response_action', 'detected_at'])
      .$if(id !== null, (q) => q.where('client_id', '=', id ?? '')).orderBy('detected_at', 'desc').orderBy('id', 'desc').limit(limit).execute(),
    db.selectFrom('agents').select(['id', 'hostname', 'instance_id', 'created_at'])
      .$if(id !== null, (q) => q.where('client_id', '=', id ?? '')).orderBy('created_at', 'desc').orderBy('id', 'desc').limit(limit).execute(),
  ])
  const items = [
    ...switches.map((s) => ({
      id: `switch-${s.id}`, type: 'switch' as const, time: isoFromDb(s.switched_at)!,
      text: `${s.old_instance_id ?? '?'} → ${s.new_instance_id ?? '?'} in ${s.new_pool_id ?? '?'} (${s.reason ?? 'switch'})`,
    })),
    ...signals.map((s) => ({
      id: `signal-${s.id}`, type: 'event' as const, time: isoFromDb(s.detected_at)!,
      text: `${s.signal_type} for ${s.instance_id ?? '?'}: ${s.response_action ?? 'recorded'}`,
    })),
    ...agents.map((a) => ({
      id: `agent-${a.id}`, type: 'agent' as const, time: isoFromDb(a.created_at)!,
      text: `agent ${a.hostname ?? a.id} registered on ${a.instance_id ?? 'no instance yet'}`,
    })),
  ]
  return items.sort((a, b) => b.time.localeCompare(a.time) || a.id.localeCompare(b.id)).slice(0, limit)
}

export interface AgentFilter { status?: 'online' | 'offline' | undefined, search?: string | undefined }

/** Every agent the scope sees with its client's name; status is online or offline by the heartbeat window. */
export async function consoleAgents(db: Kysely<Database>, scope: Scope, f: AgentFilter, now = new Date()) {
  const id = only(scope)
  const since = onlineSince(now)
  const like = f.search === undefined || f.search === '' ? null : `%${f.search.replace(/[\\%_]/g, '\\$&')}%`
  const rows = await db.selectFrom('agents as a').innerJoin('clients as c', 'c.id', 'a.client_id')
    .select(['a.id', 'a.client_id', 'c.name as client_name', 'a.hostname', 'a.instance_id', 'a.instance_type', 'a.current_pool_id',
      'a.current_mode', 'a.last_heartbeat_at', 'a.enabled', 'a.created_at'])
    .$if(id !== null, (q) => q.where('a.client_id', '=', id ?? ''))
    .$if(f.status === 'online', (q) => q.where('a.last_heartbeat_at', '>=', since))
    .$if(f.status === 'offline', (q) => q.where((eb) => eb.or([eb('a.last_heartbeat_at', '<', since), eb('a.last_heartbeat_at', 'is', null)])))
    .$if(like !== null, (q) => q.where((eb) => eb.or([eb('a.id', 'like', like ?? ''), eb('a.hostname', 'like', like ?? ''), eb('a.instance_id', 'like', like ?? '')])))
    .orderBy('c.name').orderBy('a.created_at').orderBy('a.id').execute()
  return rows.map((a) => {
    const heard = isoFromDb(a.last_heartbeat_at)
    return {
      id: a.id, clientId: a.client_id, clientName: a.client_name, hostname: a.hostname, instanceId: a.instance_id,
      instanceType: a.instance_type, poolId: a.current_pool_id, currentMode: a.current_mode, enabled: a.enabled === 1,
      status: heard !== null && heard >= isoFromDb(since)! ? 'online' as const : 'offline' as const,
      lastHeartbeatAt: heard, version: null, createdAt: isoFromDb(a.created_at),
    }
  })
}

export interface InstanceFilter {
  status?: 'active' | 'terminated' | undefined
  /** The UI's `ondemand` is stored `on-demand`. */
  mode?: Mode | undefined
  search?: string | undefined
}

/**
 * Instances the scope's agents run (active: the agent's current instance)
 * and ran (terminated: an instance a switch or failover left, with the prices
 * of that switch), newest first.
 */
export async function consoleInstances(db: Kysely<Database>, scope: Scope, f: InstanceFilter, clientId?: string) {
  const id = only(scope)
  const wanted = (status: 'active' | 'terminated') => f.status === undefined || f.status === status
  const [agents, left] = await Promise.all([
    wanted('active')
      ? db.selectFrom('agents as a').innerJoin('clients as c', 'c.id', 'a.client_id')
        .select(['a.id as agent_id', 'a.client_id', 'c.name as client_name', 'a.instance_id', 'a.instance_type', 'a.region', 'a.az',
          'a.current_pool_id', 'a.current_mode', 'a.spot_price', 'a.ondemand_price', 'a.created_at'])
        .where('a.instance_id', 'is not', null)
        .$if(id !== null, (q) => q.where('a.client_id', '=', id ?? ''))
        .$if(clientId !== undefined, (q) => q.where('a.client_id', '=', clientId ?? ''))
        .orderBy('a.created_at', 'desc').orderBy('a.id').execute()
      : [],
    wanted('terminated')
      ? db.selectFrom('instance_switches as s').innerJoin('clients as c', 'c.id', 's.client_id')
        .select(['s.agent_id', 's.client_id', 'c.name as client_name', 's.old_instance_id', 's.old_pool_id', 's.old_mode', 's.old_spot_price',
          's.on_demand_price', 's.switched_at'])
        .where('s.old_instance_id', 'is not', null)
        .$if(id !== null, (q) => q.where('s.client_id', '=', id ?? ''))
        .$if(clientId !== undefined, (q) => q.where('s.client_id', '=', clientId ?? ''))
        .orderBy('s.switched_at', 'desc').orderBy('s.id', 'desc').limit(500).execute()
      : [],
  ])
  const lastSwitch = await lastSwitches(db, agents.flatMap((a) => (a.instance_id === null ? [] : [a.instance_id])))
  const pool = (p: string | null) => (p === null ? null : /^(.+)\.([a-z]{2}-[a-z0-9-]+?-\d+[a-z0-9-]*)$/.exec(p))
  const all = [
    ...agents.map((a) => ({
      id: a.instance_id ?? '', agentId: a.agent_id, clientId: a.client_id, clientName: a.client_name, status: 'active' as const,
      instanceType: a.instance_type, region: a.region, az: a.az, poolId: a.current_pool_id, currentMode: a.current_mode,
      spotPrice: num(a.spot_price), ondemandPrice: num(a.ondemand_price), lastSwitch: lastSwitch.get(a.instance_id ?? '') ?? null,
    })),
    ...left.map((s) => {
      const p = pool(s.old_pool_id)
      const az = p?.[2] ?? null
      return {
        id: s.old_instance_id ?? '', agentId: s.agent_id, clientId: s.client_id, clientName: s.client_name, status: 'terminated' as const,
        instanceType: p?.[1] ?? null, region: az === null ? null : az.replace(/[a-z]$/, ''), az, poolId: s.old_pool_id,
        currentMode: s.old_mode ?? 'spot', spotPrice: num(s.old_spot_price), ondemandPrice: num(s.on_demand_price), lastSwitch: isoFromDb(s.switched_at),
      }
    }),
  ]
  const q = f.search?.toLowerCase() ?? ''
  return all.filter((i) => (f.mode === undefined || i.currentMode === f.mode)
    && (q === '' || [i.id, i.instanceType, i.poolId, i.clientName].some((v) => v?.toLowerCase().includes(q))))
}

/** When each instance was switched to (its latest switch), by instance id. */
async function lastSwitches(db: Kysely<Database>, instanceIds: readonly string[]): Promise<Map<string, string>> {
  if (instanceIds.length === 0) return new Map()
  const rows = await db.selectFrom('instance_switches').select(['new_instance_id', (eb) => eb.fn.max('switched_at').as('at')])
    .where('new_instance_id', 'in', [...instanceIds]).groupBy('new_instance_id').execute()
  return new Map(rows.flatMap((r) => (r.new_instance_id === null ? [] : [[r.new_instance_id, isoFromDb(r.at)!]])))
}
