/**
 * Events/s of `replay --from log`: EVENTS event_log rows (default 200k; the
 * figure in the README is EVENTS=1000000) are written directly with
 * multi-row INSERTs (prices, metrics, heartbeats, rebalance recommendations
 * each with its decision), then every projection is rebuilt from them into
 * a shadow database and swapped in. Prints its figures.
 *
 *   npm run bench:replay
 *   EVENTS=1000000 npm run bench:replay
 */
import { randomUUID } from 'node:crypto'
import { sql } from 'kysely'
import { createDb } from '../src/db/connect.js'
import { ensureDatabase, migrateToLatest } from '../src/db/migrate.js'
import type { NewEventLog } from '../src/db/database.js'
import type { DecisionOf } from '../src/log/decisions.js'
import { type StoredEvent, logRowOf } from '../src/log/stored-event.js'
import type { EventOf } from '../src/events/schemas.js'
import { replayFromLog } from '../src/replay/from-log.js'
import { progressFor } from '../src/replay/progress.js'
import { PROJECTIONS } from '../src/wiring.js'

const N = Number(process.env.EVENTS ?? 200_000)
const url = process.env.DATABASE_URL ?? 'mysql://root@127.0.0.1:3306/test'
const POOLS = ['a', 'b', 'c', 'd', 'e', 'f'].map((z) => `m5.large.us-east-1${z}`)

/** The i-th log row(s): one input, and for a rebalance its decision. */
function rowsAt(i: number, clientId: string, agents: string[], base: number): NewEventLog[] {
  const agentId = agents[i % agents.length]!
  const occurredAt = new Date(base + i * 100).toISOString()
  const env = { eventId: randomUUID(), version: 1 as const, occurredAt, clientId, agentId }
  const pool = POOLS[i % POOLS.length]!
  const k = i % 10
  if (k < 3) {
    const e: EventOf<'pricing.snapshot'> = { ...env, type: 'pricing.snapshot', data: {
      poolId: 'm5.large.us-east-1a', instanceType: 'm5.large', region: 'us-east-1', az: 'us-east-1a',
      spotPrice: (0.03 + (i % 17) / 1000).toFixed(4), onDemandPrice: '0.096', observedAt: occurredAt, sourceType: 'agent',
    } }
    return [logRowOf(e, 'kafka')]
  }
  if (k < 6) return [logRowOf({ ...env, type: 'instance.metrics', data: { instanceId: `i-${i % agents.length}`, cpu: i % 100, memory: (i * 7) % 100 } }, 'kafka')]
  if (k < 9) {
    return [logRowOf({ ...env, type: 'agent.heartbeat', data: { status: 'online', instanceId: `i-${i % agents.length}`, mode: 'spot', poolId: pool, spotPrice: '0.0345', onDemandPrice: '0.096' } }, 'kafka')]
  }
  const input: StoredEvent = { ...env, type: 'spot.rebalance_recommendation', data: { instanceId: `i-${i % agents.length}`, poolId: 'm5.large.us-east-1b' } }
  const d: DecisionOf<'decision.signal_recorded'> = { ...env, eventId: randomUUID(), type: 'decision.signal_recorded', causeEventId: input.eventId, data: {
    signalType: 'rebalance-recommendation', instanceId: input.data.instanceId, poolId: input.data.poolId, detectedAt: occurredAt,
    terminationTime: null, responseAction: 'no-action', replicaId: null, responseTimeMs: 5, clockSkewMs: 0, failoverTimeMs: null, success: true, error: null,
  } }
  return [logRowOf(input, 'kafka'), logRowOf(d, 'decision')]
}

async function main() {
  const name = `bench_replay_${process.pid}`
  const server = createDb({ url, database: '', connectionLimit: 1 })
  await sql`DROP DATABASE IF EXISTS ${sql.id(name)}`.execute(server)
  await ensureDatabase(server, name)
  const db = createDb({ url, database: name, connectionLimit: 4 })
  try {
    await migrateToLatest(db)
    const clientId = randomUUID()
    const agents = Array.from({ length: 500 }, () => randomUUID())
    const base = Date.parse('2026-11-01T00:00:00Z')
    let t0 = performance.now()
    let rows = 0
    for (let i = 0; i < N; i += 1000) {
      const batch = Array.from({ length: Math.min(1000, N - i) }, (_, j) => rowsAt(i + j, clientId, agents, base)).flat()
      rows += batch.length
      await db.insertInto('event_log').values(batch).execute()
    }
    const writeS = (performance.now() - t0) / 1000
    console.log(`log: ${N} input events + ${rows - N} decisions = ${rows} rows written in ${writeS.toFixed(1)} s (${Math.round(rows / writeS)} rows/s, multi-row INSERTs of ~1000)`)

    t0 = performance.now()
    const r = await replayFromLog(db, { projections: PROJECTIONS, progress: progressFor(process.stderr, 'replay') })
    const s = (performance.now() - t0) / 1000
    console.log(`replay --from log: ${r.rows} log rows (${N} inputs) in ${s.toFixed(1)} s = ${Math.round(r.rows / s)} rows/s, ${Math.round(N / s)} input events/s (goal ≥ 50,000/s)`)
    console.log(`projections: ${PROJECTIONS.map((p) => p.name).join(', ')}; tables swapped: ${r.tables.join(', ')}`)
  } finally {
    await db.destroy()
    await sql`DROP DATABASE IF EXISTS ${sql.id(name)}`.execute(server)
    await server.destroy()
  }
}

await main()
