/**
 * Events/s of `replay --from log` (issue 9 §5: 1M events, goal ≥ 50k/s).
 * EVENTS input events (default 1,000,000) in a realistic mix are written
 * straight into event_log with multi-row INSERTs cut by statement bytes (the
 * load is not the measured figure): ~55 % heartbeats with prices, 38 % pricing
 * snapshots, 5 % rebalance recommendations, 2 % termination notices, each
 * signal with the decisions and commands the rules would have logged
 * (signal recorded, replica requested + launch, failover executed +
 * promote), and every agent registered first. Then every projection is
 * rebuilt from them into a shadow database and swapped in; it prints the
 * rebuild's seconds and events/s.
 *
 *   npm run bench:replay                 (EVENTS=1000000 by default)
 *   EVENTS=200000 PAGE=20000 npm run bench:replay
 */
import { randomUUID } from 'node:crypto'
import { type Kysely, sql } from 'kysely'
import { createPool } from 'mysql2'
import { Kysely as KyselyDb, MysqlDialect } from 'kysely'
import { createDb, poolOptions } from '../src/db/connect.js'
import { ensureDatabase, migrateToLatest } from '../src/db/migrate.js'
import type { Database, NewEventLog } from '../src/db/database.js'
import { chunkByBytes, readStatementBytes, rowBytes } from '../src/db/statement-bytes.js'
import type { CommandEvent } from '../src/log/decider.js'
import type { DecisionEvent } from '../src/log/decisions.js'
import { type StoredEvent, logRowOf } from '../src/log/stored-event.js'
import { replayFromLog } from '../src/replay/from-log.js'
import { progressFor } from '../src/replay/progress.js'
import { PROJECTIONS } from '../src/wiring.js'

const N = Number(process.env.EVENTS ?? 1_000_000)
const PAGE = process.env.PAGE ? Number(process.env.PAGE) : undefined
const url = process.env.DATABASE_URL ?? 'mysql://root@127.0.0.1:3306/test'
const AGENTS = 2000
const POOLS = ['a', 'b', 'c', 'd', 'e', 'f'].flatMap((z) => ['m5.large', 'c5.xlarge'].map((t) => ({ id: `${t}.us-east-1${z}`, type: t, az: `us-east-1${z}` })))
/** The history spans a week: UTC midnights cut cost intervals, hours make reliability buckets. */
const SPAN_MS = 7 * 86_400_000
const BASE = Date.parse('2026-11-01T00:00:00Z')

const clientId = randomUUID()
const agents = Array.from({ length: AGENTS }, (_, a) => ({ id: randomUUID(), pool: POOLS[a % POOLS.length]! }))
const price = (i: number) => (0.03 + (i % 17) / 1000).toFixed(4)

/** The i-th input with what it caused, as log rows (inputs first, then decisions and commands, as the core writes them). */
function rowsAt(i: number): NewEventLog[] {
  const agent = agents[(i * 7919) % AGENTS]!
  const at = BASE + Math.floor(i * (SPAN_MS / N))
  const occurredAt = new Date(at).toISOString()
  const env = { version: 1 as const, occurredAt, clientId, agentId: agent.id }
  const instanceId = `i-${agent.id.slice(0, 12)}`
  const pool = agent.pool
  const k = i % 100
  if (k < 55) {
    return [logRowOf({ ...env, eventId: randomUUID(), type: 'agent.heartbeat', data: {
      status: 'online', instanceId, mode: 'spot', poolId: pool.id, spotPrice: price(i), onDemandPrice: '0.096',
    } }, 'kafka')]
  }
  if (k < 93) {
    const p = POOLS[i % POOLS.length]!
    return [logRowOf({ ...env, eventId: randomUUID(), type: 'pricing.snapshot', data: {
      poolId: p.id, instanceType: p.type, region: 'us-east-1', az: p.az, spotPrice: price(i), onDemandPrice: '0.096', observedAt: occurredAt, sourceType: 'agent',
    } }, 'kafka')]
  }
  const termination = k >= 98
  const input: StoredEvent = termination
    ? { ...env, eventId: randomUUID(), type: 'spot.termination_notice', data: { instanceId, poolId: pool.id, terminationTime: new Date(at + 120_000).toISOString() } }
    : { ...env, eventId: randomUUID(), type: 'spot.rebalance_recommendation', data: { instanceId, poolId: pool.id } }
  const cause = { ...env, causeEventId: input.eventId, occurredAt: new Date(at + 40).toISOString() }
  const replicaId = randomUUID()
  const other = POOLS[(POOLS.indexOf(pool) + 2) % POOLS.length]!
  const signal = (responseAction: 'replica-created' | 'failover'): DecisionEvent => ({ ...cause, eventId: randomUUID(), type: 'decision.signal_recorded', data: {
    signalType: termination ? 'termination-notice' : 'rebalance-recommendation', instanceId, poolId: pool.id, detectedAt: occurredAt,
    terminationTime: termination ? new Date(at + 120_000).toISOString() : null, responseAction, replicaId,
    responseTimeMs: 40, failoverTimeMs: termination ? 40 : null, clockSkewMs: -40, success: true, error: null,
  } })
  const produced: (DecisionEvent | CommandEvent)[] = termination
    ? [
      { ...cause, eventId: randomUUID(), type: 'decision.failover_executed', data: {
        replicaId, oldInstanceId: instanceId, newInstanceId: `i-r${replicaId.slice(0, 12)}`, oldPoolId: pool.id, newPoolId: other.id,
        onDemandPrice: '0.096', oldSpotPrice: price(i), newSpotPrice: price(i + 3), effectiveAt: occurredAt,
        signalEventId: input.eventId, signalType: 'termination-notice', responseTimeMs: 40, failoverTimeMs: 40,
      } },
      { ...env, occurredAt: cause.occurredAt, eventId: randomUUID(), type: 'command.promote_replica', data: { replicaId } },
      signal('failover'),
    ]
    : [
      { ...cause, eventId: randomUUID(), type: 'decision.replica_requested', data: {
        replicaId, poolId: other.id, replicaType: 'automatic-rebalance', reason: 'rebalance-recommendation', parentInstanceId: instanceId, createdBy: 'system',
      } },
      { ...env, occurredAt: cause.occurredAt, eventId: randomUUID(), type: 'command.launch_replica', data: { replicaId, poolId: other.id, reason: 'rebalance-recommendation' } },
      signal('replica-created'),
    ]
  return [logRowOf(input, 'kafka'), ...produced.map((p) => logRowOf(p, 'decision', { cause: input.eventId }))]
}

function registrations(): NewEventLog[] {
  return agents.map((a, n) => logRowOf({
    version: 1, eventId: randomUUID(), occurredAt: new Date(BASE - 60_000 + n).toISOString(), clientId, agentId: a.id, type: 'agent.registered',
    data: { logicalAgentId: `web-${n}`, instanceId: `i-${a.id.slice(0, 12)}`, instanceType: a.pool.type, region: 'us-east-1', az: a.pool.az, mode: 'spot', hostname: `host-${n}`, spotPrice: '0.0345', onDemandPrice: '0.096' },
  }, 'kafka'))
}

async function main() {
  // REUSE=<database> replays a log loaded by an earlier run with KEEP=1 (while tuning).
  const name = process.env.REUSE ?? `bench_replay_${process.pid}`
  const server = createDb({ url, database: '', connectionLimit: 1 })
  if (!process.env.REUSE) {
    await sql`DROP DATABASE IF EXISTS ${sql.id(name)}`.execute(server)
    await ensureDatabase(server, name)
  }
  const db = process.env.PROFILE ? profiledDb(name) : createDb({ url, database: name, connectionLimit: 4 })
  try {
    await migrateToLatest(db)
    if (!process.env.REUSE) await load(db)
    const inputs = Number((await sql<{ n: number }>`SELECT COUNT(*) AS n FROM event_log WHERE source <> 'decision'`.execute(db)).rows[0]!.n)
    const counts = await sql<{ type: string, n: number }>`SELECT type, COUNT(*) AS n FROM event_log GROUP BY type ORDER BY n DESC`.execute(db)
    console.log(`mix: ${counts.rows.map((r) => `${r.type} ${(Number(r.n) / inputs * 100).toFixed(1)} %`).join(', ')}`)

    const t0 = performance.now()
    const cpu0 = process.cpuUsage()
    const r = await replayFromLog(db, { projections: PROJECTIONS, pageSize: PAGE, progress: progressFor(process.stderr, 'replay') })
    const s = (performance.now() - t0) / 1000
    console.log(`replay --from log: ${r.rows.toLocaleString('en-US')} log rows (${inputs.toLocaleString('en-US')} input events) rebuilt and swapped in ${s.toFixed(1)} s`)
    const cpu = process.cpuUsage(cpu0)
    console.log(`  node CPU ${((cpu.user + cpu.system) / 1e6).toFixed(1)} s of it (the rest is the server's share, or waiting for a core)`)
    console.log(`  = ${Math.round(inputs / s).toLocaleString('en-US')} input events/s, ${Math.round(r.rows / s).toLocaleString('en-US')} log rows/s (goal ≥ 50,000 events/s)`)
    const out = await Promise.all(r.tables.map(async (t) => `${t} ${(await sql<{ n: number }>`SELECT COUNT(*) AS n FROM ${sql.table(t)}`.execute(db)).rows[0]!.n}`))
    console.log(`rows rebuilt: ${out.join(', ')}`)
    if (process.env.PROFILE) {
      for (const [k, v] of [...statements].sort((a, b) => b[1].ms - a[1].ms).slice(0, 25)) console.log(`${(v.ms / 1000).toFixed(2).padStart(7)} s ${String(v.n).padStart(6)}× ${k}`)
    }
  } finally {
    await db.destroy()
    if (!process.env.KEEP && !process.env.REUSE) await sql`DROP DATABASE IF EXISTS ${sql.id(name)}`.execute(server)
    await server.destroy()
  }
}

/** PROFILE=1: the time of each statement shape, as the client waits for it (performance_schema is off on this server). */
const statements = new Map<string, { n: number, ms: number }>()
function profiledDb(database: string): Kysely<Database> {
  const pool = createPool(poolOptions({ url, database, connectionLimit: 4 }))
  pool.on('connection', (conn) => { conn.query("SET time_zone = '+00:00'") })
  return new KyselyDb<Database>({
    dialect: new MysqlDialect({ pool }),
    log: (e) => {
      const k = e.query.sql.replace(/\s+/g, ' ').replace(/\(\?(, \?)*\)(, \(\?(, \?)*\))*/g, '(…)').replace(/(\?, )+\?/g, '…').slice(0, 110)
      const v = statements.get(k) ?? { n: 0, ms: 0 }
      v.n++; v.ms += e.queryDurationMillis
      statements.set(k, v)
    },
  })
}

async function load(db: Kysely<Database>) {
  const maxBytes = await readStatementBytes(db)
  const t0 = performance.now()
  let rows = 0
  // The load: big multi-row INSERTs in a few transactions, on one connection with the checks off (not the measured figure).
  await db.connection().execute(async (conn) => {
    await sql`SET unique_checks = 0, foreign_key_checks = 0`.execute(conn)
    const write = async (batch: NewEventLog[]) => {
      await conn.transaction().execute(async (trx) => {
        for (const c of chunkByBytes(batch, 20_000, maxBytes, rowBytes)) await trx.insertInto('event_log').values(c).execute()
      })
      rows += batch.length
    }
    await write(registrations())
    for (let i = 0; i < N; i += 50_000) {
      await write(Array.from({ length: Math.min(50_000, N - i) }, (_, j) => rowsAt(i + j)).flat())
      if (i % 200_000 === 0) process.stderr.write(`load: ${rows} rows\n`)
    }
    await sql`SET unique_checks = 1, foreign_key_checks = 1`.execute(conn)
  })
  const writeS = (performance.now() - t0) / 1000
  console.log(`log: ${rows.toLocaleString('en-US')} rows loaded in ${writeS.toFixed(1)} s (not measured)`)
}

await main()
