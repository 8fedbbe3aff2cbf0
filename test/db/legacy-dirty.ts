/**
 * Shared by legacy-repairs-*.test.ts (one file per starting point, so each
 * stays within tap's per-file timeout on a loaded machine).
 *
 * Legacy data the target schema cannot hold as it is (issue 8 §6): modes
 * `ondemand`/`unknown`, NULLs in columns that had defaults, replica status
 * `running`, agents with two live replicas or both modes on. `migrate` repairs
 * each class without deleting a row, records what it changed (shown by
 * `migrate verify`), backfills the agent pointers and counters from the
 * legacy rows, ends with the same schema as from empty, and a re-run is a no-op.
 */
import { type Kysely, sql } from 'kysely'
import t, { type Test } from 'tap'
import { migrateToLatest } from '../../src/db/migrate.js'
import { formatReport, verifySchema } from '../../src/db/verify.js'
import { fixture, freshDatabase, runSqlFile } from '../helper-db.js'
import { type RowSnapshot, fingerprint, snapshotRows, tableRows } from './schema-snapshot.js'

const D1 = 'd2000000-0000-4000-8000-000000000001'
const D2 = 'd2000000-0000-4000-8000-000000000002'
const D3 = 'd2000000-0000-4000-8000-000000000003'
const A0 = '0d7e4b8a-1c2f-4e3a-8b5d-7a6c9e2f1b33'
const A1 = '1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c44'
const A2 = '2c3d4e5f-6a7b-4c8d-9e0f-1a2b3c4d5e55'
const A3 = '3d4e5f6a-7b8c-4d9e-8f0a-2b3c4d5e6f66'
const R = (n: number) => `d3000000-0000-4000-8000-00000000000${n}`
const OLD_READY = 'b3e1f6a2-7c4d-4a9e-9f1b-2d8c5e7a6f02'

/** [table, id, the cells migrate changes on that legacy row (normalised as schema-snapshot does)]. */
type Patch = [table: string, id: string, cells: Record<string, string | null>]

const basePatches: Patch[] = [
  ['clients', 'd1000000-0000-4000-8000-000000000001', { is_active: '1' }],
  ['agents', D1, { current_mode: 'on-demand', status: 'offline', terminate_wait_minutes: '0' }],
  ['agents', D2, { current_mode: 'on-demand', status: 'offline', auto_terminate_enabled: '1' }],
  ['agents', D3, { current_mode: 'spot', auto_switch_enabled: '1' }],
  ['spot_pools', 't3.medium.us-west-2-lax-1a', { is_active: '1' }],
  ['instances', 'i-0lax0000000000001', { current_mode: 'on-demand', is_active: '1' }],
  ['instances', 'i-0wlz0000000000002', { current_mode: 'on-demand' }],
  ['instances', 'i-0wlz0000000000001', { current_mode: 'spot' }],
  ['switches', '10', { old_mode: null, new_mode: 'on-demand' }],
  ['cost_records', '10', { mode: 'on-demand' }],
]

const baseRepairs: Record<string, number> = {
  'instances.current_mode:ondemand': 2,
  'instances.current_mode:unknown': 1,
  'instance_switches.old_mode:unknown': 1,
  'instance_switches.new_mode:ondemand': 1,
  'cost_records.mode:ondemand': 1,
  'agents.current_mode:ondemand': 1,
  'agents.current_mode:unknown-from-instance': 1,
  'agents.current_mode:unknown': 1,
  'clients.is_active:null': 1,
  'agents.status:null': 2,
  'agents.auto_switch_enabled:null': 1,
  'agents.auto_terminate_enabled:null': 1,
  'agents.terminate_wait_minutes:null': 1,
  'spot_pools.is_active:null': 1,
  'instances.is_active:null': 1,
}

interface Start {
  name: string
  fixtures: string[]
  patches: Patch[]
  repairs: Record<string, number>
  /** Replicas ended because a newer live one of the same agent was kept. */
  ended: string[]
}

export const starts: Start[] = [
  { name: 'dirty legacy base', fixtures: ['legacy-base.sql', 'legacy-dirty-base.sql'], patches: basePatches, repairs: baseRepairs, ended: [] },
  {
    name: 'dirty legacy base + hand-applied 006',
    fixtures: ['legacy-base.sql', 'legacy-006.sql', 'legacy-dirty-base.sql', 'legacy-dirty-006.sql'],
    patches: [
      ...basePatches,
      ['agents', D1, { auto_switch_enabled: '0' }], // both on, live manual replica: manual wins
      ['agents', D2, { manual_replica_enabled: '0' }], // both on, no manual replica: automatic wins
      ['agents', D3, { manual_replica_enabled: '0' }],
      ['agents', A3, { auto_switch_enabled: '0' }], // NULL while manual mode is on
      ['replica_instances', R(1), { status: 'terminated', created_by: 'user' }],
      ['replica_instances', R(3), { status: 'syncing', created_by: 'system' }],
      ['replica_instances', R(5), { created_by: 'user' }],
      ['replica_instances', R(6), { status: 'ready' }],
      ['replica_instances', OLD_READY, { status: 'terminated' }],
    ],
    repairs: {
      ...baseRepairs,
      'agents.manual_replica_enabled:null': 1,
      'agents.auto_switch_enabled:null': 2,
      'replica_instances.status:running-synced': 2,
      'replica_instances.status:running': 1,
      'replica_instances.created_by:null': 3,
      'replica_instances.status:extra-live': 2,
      'agents.both_modes:manual': 1,
      'agents.both_modes:automatic': 1,
      'replica_instances.pool_parts:backfill': 12,
      'agents.current_replica_id:backfill': 6,
      'agents.last_failover_at:backfill': 3,
      'agents.interruption_handled_count:backfill': 3,
    },
    ended: [R(1), OLD_READY],
  },
]

/** The schema migrating an empty database produces. */
async function referenceFingerprint() {
  const { db, name } = await freshDatabase(t)
  await migrateToLatest(db)
  return fingerprint(db, name)
}

/** The legacy rows as they must read after migrate: `before` with the patches applied. */
function expectedRows(before: RowSnapshot, table: string, patches: Patch[]): (string | null)[][] {
  const { columns, rows } = before[table]!
  const id = columns.indexOf('id')
  const out = rows.map((r) => [...r])
  for (const [pt, key, cells] of patches) {
    if (pt !== table) continue
    const row = out.find((r) => r[id] === key)
    if (!row) throw new Error(`fixture has no ${table} ${key}`)
    for (const [c, v] of Object.entries(cells)) {
      if (columns.includes(c)) row[columns.indexOf(c)] = v
    }
  }
  return out.sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1))
}

/** What the legacy interruption rows say about each agent's failovers. */
function failoversOf(before: RowSnapshot): Map<string, { count: number, last: string }> {
  const s = before.spot_interruption_events
  const out = new Map<string, { count: number, last: string }>()
  if (!s) return out
  const col = (r: (string | null)[], c: string) => r[s.columns.indexOf(c)] ?? null
  for (const r of s.rows) {
    if (col(r, 'response_action') !== 'failover' || col(r, 'success') === '0') continue
    const agent = col(r, 'agent_id')!
    const detected = col(r, 'detected_at')!
    const prev = out.get(agent)
    out.set(agent, { count: (prev?.count ?? 0) + 1, last: prev && prev.last > detected ? prev.last : detected })
  }
  return out
}

async function checkPointers(t: Test, db: Kysely<any>, before: RowSnapshot) {
  const agents = (await sql<{ id: string, current_replica_id: string | null, last_failover_at: string | null, interruption_handled_count: number }>`
    SELECT id, current_replica_id, last_failover_at, interruption_handled_count FROM agents`.execute(db)).rows
  const live = new Map((await sql<{ agent_id: string, id: string }>`
    SELECT agent_id, id FROM replica_instances WHERE status IN ('launching','syncing','ready')`.execute(db)).rows
    .map((r) => [r.agent_id, r.id]))
  const failovers = failoversOf(before)
  for (const a of agents) {
    t.equal(a.current_replica_id, live.get(a.id) ?? null, `${a.id}: current_replica_id is its live replica`)
    const f = failovers.get(a.id)
    t.equal(a.interruption_handled_count, f?.count ?? 0, `${a.id}: interruption_handled_count = successful failovers`)
    t.equal(a.last_failover_at?.replace(/\.000$/, '') ?? null, f?.last ?? null, `${a.id}: last_failover_at = latest failover`)
  }
  return { live }
}

export async function testStart(start: Start): Promise<void> {
  const reference = await referenceFingerprint()
  t.test(`from ${start.name}`, async (t) => {
    const { db, url, name } = await freshDatabase(t)
    for (const f of start.fixtures) await runSqlFile(url, name, fixture(f))
    const before = await snapshotRows(db, name)
    const startedAt = (await sql<{ now: string }>`SELECT UTC_TIMESTAMP(3) AS now`.execute(db)).rows[0]!.now

    const began = performance.now()
    const result = await migrateToLatest(db)
    t.comment(`migrate ${start.name}: ${Math.round(performance.now() - began)} ms`)
    t.strictSame(await fingerprint(db, name), reference, 'same schema as from empty')

    const counts = Object.fromEntries(result.repairs.map((r) => [r.repair, r.rowCount]))
    t.strictSame(counts, start.repairs, 'the repairs made, with their row counts')
    t.ok(result.repairs.every((r) => r.description.length > 0), 'each repair says what it did')

    // Every legacy row survives, holding the mapped values and nothing else changed.
    const ended = await sql<{ id: string, terminated_at: string, termination_reason: string }>`
      SELECT id, terminated_at, termination_reason FROM replica_instances
      WHERE id IN (${sql.join(start.ended.length ? start.ended : [''])})`.execute(db)
    t.equal(ended.rows.length, start.ended.length, 'extra live replicas are kept, ended')
    const patches = [...start.patches]
    for (const r of ended.rows) {
      t.ok(r.terminated_at >= startedAt, `${r.id} ended at migration time`)
      t.match(r.termination_reason, /^legacy-migration: superseded by newer live replica [0-9a-f-]{36}$/, `${r.id}: reason recorded`)
      patches.push(['replica_instances', r.id, { terminated_at: r.terminated_at.replace(/\.?0+$/, '') }])
    }
    for (const [table, legacy] of Object.entries(before)) {
      const target = table === 'switches' ? 'instance_switches' : table
      let after = await tableRows(db, target, legacy.columns)
      let want = expectedRows(before, table, patches)
      if (table === 'schema_migrations') {
        const versions = new Set(legacy.rows.map((r) => r[0]))
        after = after.filter((r) => versions.has(r[0]!))
        want = legacy.rows
      }
      t.equal(after.length, legacy.rows.length, `${table}: row count kept`)
      t.strictSame(after, want, `${table}: rows kept, legacy values mapped`)
    }

    const bothOn = await sql<{ n: number }>`SELECT COUNT(*) AS n FROM agents WHERE manual_replica_enabled = 1 AND auto_switch_enabled = 1`.execute(db)
    t.equal(Number(bothOn.rows[0]!.n), 0, 'manual and automatic never both on')
    const { live } = await checkPointers(t, db, before)
    if (before.replica_instances) {
      t.equal(live.get(D1), R(2), 'the newest live replica is kept')
      t.equal(live.get(A0), R(4), 'the newest live replica is kept (over an older ready one)')
      t.equal(live.get(A3), R(6), "'running' and synced is ready")
      const parts = await sql<{ instance_type: string, region: string, az: string }>`
        SELECT instance_type, region, az FROM replica_instances WHERE id = ${R(3)}`.execute(db)
      t.strictSame(parts.rows[0], { instance_type: 'r5.2xlarge', region: 'us-east-1', az: 'us-east-1-wl1-atl-wlz-1' }, 'Wavelength pool id split')
      const lax = await sql<{ az: string, region: string }>`SELECT az, region FROM replica_instances WHERE id = ${R(2)}`.execute(db)
      t.strictSame(lax.rows[0], { az: 'us-west-2-lax-1b', region: 'us-west-2' }, 'Local Zone pool id split')
      const dup = await sql`INSERT INTO replica_instances (id, agent_id, replica_type, pool_id, status)
        VALUES ('d3000000-0000-4000-8000-0000000000ff', ${D1}, 'manual', 'm5.large.us-east-1a', 'launching')`.execute(db)
        .then(() => 'inserted', (e: { code?: string }) => e.code)
      t.equal(dup, 'ER_DUP_ENTRY', 'the one-live-replica unique index holds')
    }

    // The repairs are recorded durably: `migrate verify` shows them.
    const verified = await verifySchema(db)
    t.ok(verified.ok, 'verify passes')
    t.strictSame(verified.repairs, result.repairs, 'verify lists the recorded repairs')
    const report = formatReport(verified)
    t.match(report, /legacy data repaired by migrate/, 'report has a repairs section')
    for (const [repair, n] of Object.entries(start.repairs)) {
      t.match(report, new RegExp(`\\b${repair.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\s+${n}\\b`), `report: ${repair} ${n}`)
    }
    t.match(report.split('\n').at(-1), /^schema complete: all \d+ checks passed$/, 'summary line last')

    // A second run, and one without Kysely's history, change nothing.
    const rows = await snapshotRows(db, name, { exclude: /^kysely_migration/ })
    const again = await migrateToLatest(db)
    t.strictSame([again.applied, again.repairs], [[], []], 'second run: nothing applied, nothing repaired')
    await sql`DROP TABLE kysely_migration, kysely_migration_lock`.execute(db)
    const rerun = await migrateToLatest(db)
    t.strictSame(rerun.repairs, [], 're-run of every migration repairs nothing')
    t.strictSame(await snapshotRows(db, name, { exclude: /^kysely_migration/ }), rows, 'rows unchanged by the re-runs')
    t.strictSame(await fingerprint(db, name), reference, 'schema unchanged by the re-runs')
  })
}

