/**
 * How long `migrate` takes from each starting point the tests use (empty,
 * legacy base, + the hand-applied 006, and the same with the dirty data of
 * issue 8 §6), a second run (nothing to do), and a scaled dirty database:
 * AGENTS legacy agents (default 10,000), each with mode 'ondemand' or
 * 'unknown', NULL status, both modes on, two live replicas (one 'running')
 * and two failovers, so every repair touches AGENTS rows at once. Prints its
 * figures; RUNS (default 3) runs each and reports the median. The same
 * number of clean agents (nothing to repair) shows what the repairs cost apart
 * from converging the tables; ONLY=text runs the starts whose label has it.
 *
 *   npm run build && node dist/bench/migrate-legacy.js
 */
import { performance } from 'node:perf_hooks'
import { readFile } from 'node:fs/promises'
import { randomBytes } from 'node:crypto'
import mysql from 'mysql2/promise'
import { createDb, poolOptions } from '../src/db/connect.js'
import { migrateToLatest } from '../src/db/migrate.js'

const url = process.env.DATABASE_URL ?? 'mysql://root@127.0.0.1:3306/test'
const AGENTS = Number(process.env.AGENTS ?? 10_000)
const RUNS = Number(process.env.RUNS ?? 3)
const fixtures = new URL('../../test/fixtures/', import.meta.url)

async function conn(database: string | null) {
  const { host, port, user, password } = poolOptions({ url })
  return mysql.createConnection({ host, port, user, password, database: database ?? undefined, multipleStatements: true, timezone: 'Z' })
}

/** Legacy rows for the scaled starts, in the legacy-006 column layout; clean ones hold nothing to repair. */
async function scale(c: mysql.Connection, n: number, dirty: boolean) {
  const id = (p: string, i: number) => `${p}${String(i).padStart(12, '0')}`.replace(/^(.{8})(.{4})(.{4})(.{4})/, '$1-$2-$3-$4-')
  for (let from = 0; from < n; from += 1000) {
    const agents: unknown[][] = []
    const replicas: unknown[][] = []
    const signals: unknown[][] = []
    for (let i = from; i < Math.min(n, from + 1000); i++) {
      const a = id('e2000000000040008000', i)
      agents.push(dirty
        ? [a, '2b8d4e61-9a3c-4f0b-8e7d-1c5a6b9f0e22', `i-scale${i}`, i % 2 ? 'unknown' : 'ondemand', null, 1, 1, 'm5.large.us-east-1a']
        : [a, '2b8d4e61-9a3c-4f0b-8e7d-1c5a6b9f0e22', `i-scale${i}`, 'spot', 'offline', 0, 1, 'm5.large.us-east-1a'])
      replicas.push(dirty
        ? [id('e3000000000040008000', 2 * i), a, 'manual', 'm5.large.us-east-1b', 'running', 'synced', null, '2025-11-21 08:00:00']
        : [id('e3000000000040008000', 2 * i), a, 'manual', 'm5.large.us-east-1b', 'terminated', 'synced', 'user', '2025-11-21 08:00:00'])
      replicas.push([id('e3000000000040008000', 2 * i + 1), a, 'manual', 't3.medium.us-west-2-lax-1a', 'launching', 'initializing', 'user', '2025-11-21 09:00:00'])
      for (const d of ['2025-11-01 12:00:00', '2025-11-15 06:30:00']) {
        signals.push(['2b8d4e61-9a3c-4f0b-8e7d-1c5a6b9f0e22', a, 'termination-notice', d, 'failover', 1])
      }
    }
    await c.query(`INSERT INTO agents (id, client_id, instance_id, current_mode, status, auto_switch_enabled, manual_replica_enabled, current_pool_id) VALUES ?`, [agents])
    await c.query(`INSERT INTO replica_instances (id, agent_id, replica_type, pool_id, status, sync_status, created_by, created_at) VALUES ?`, [replicas])
    await c.query(`INSERT INTO spot_interruption_events (client_id, agent_id, signal_type, detected_at, response_action, success) VALUES ?`, [signals])
  }
}

async function once(files: string[], scaled: 'no' | 'clean' | 'dirty') {
  const name = `bench_${randomBytes(4).toString('hex')}`
  const server = await conn(null)
  await server.query(`CREATE DATABASE ${name} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`)
  const db = createDb({ url, database: name, connectionLimit: 2 })
  try {
    const c = await conn(name)
    for (const f of files) await c.query(await readFile(new URL(f, fixtures), 'utf8'))
    if (scaled !== 'no') await scale(c, AGENTS, scaled === 'dirty')
    await c.end()
    let t0 = performance.now()
    const first = await migrateToLatest(db)
    const firstMs = performance.now() - t0
    t0 = performance.now()
    await migrateToLatest(db)
    return { firstMs, againMs: performance.now() - t0, rows: first.repairs.reduce((n, r) => n + r.rowCount, 0) }
  } finally {
    await db.destroy()
    await server.query(`DROP DATABASE ${name}`)
    await server.end()
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
const base = ['legacy-base.sql']
const with006 = ['legacy-base.sql', 'legacy-006.sql']
const dirty006 = [...with006, 'legacy-dirty-base.sql', 'legacy-dirty-006.sql']
const starts: [string, string[], 'no' | 'clean' | 'dirty'][] = [
  ['empty', [], 'no'],
  ['legacy base', base, 'no'],
  ['legacy base + 006', with006, 'no'],
  ['dirty legacy base', [...base, 'legacy-dirty-base.sql'], 'no'],
  ['dirty legacy base + 006', dirty006, 'no'],
  [`dirty + 006, ${AGENTS} clean agents`, dirty006, 'clean'],
  [`dirty + 006, ${AGENTS} dirty agents`, dirty006, 'dirty'],
]
const only = process.env.ONLY
console.log(`start                                 migrate   again   repaired rows   (median of ${RUNS})`)
for (const [label, files, scaled] of starts) {
  if (only && !label.includes(only)) continue
  const runs = []
  for (let i = 0; i < RUNS; i++) runs.push(await once(files, scaled))
  const f = (ms: number) => `${(ms / 1000).toFixed(2)} s`
  console.log(`${label.padEnd(36)}  ${f(median(runs.map((r) => r.firstMs))).padStart(7)}  ${f(median(runs.map((r) => r.againMs))).padStart(6)}  ${String(runs[0]!.rows).padStart(14)}`)
}
