/**
 * verifySchema answers the seed guide's verification commands: complete on a
 * migrated database, and on the legacy base it names what is missing.
 */
import { sql } from 'kysely'
import t from 'tap'
import { DATABASE_COLUMNS } from '../../src/db/database.js'
import { type Check, formatReport, verifySchema } from '../../src/db/verify.js'
import { fixture, freshDatabase, runSqlFile } from '../helper-db.js'

const find = (checks: Check[], kind: Check['kind'], name: string) => checks.find((c) => c.kind === kind && c.name === name)

t.test('a migrated database is complete', async (t) => {
  const { db } = await freshDatabase(t, { migrate: true })
  const result = await verifySchema(db)
  t.ok(result.ok, 'result.ok is true')
  t.strictSame(result.checks.filter((c) => !c.ok), [], 'no failed check')
  t.equal(result.checks.filter((c) => c.kind === 'table' || c.kind === 'view').length, Object.keys(DATABASE_COLUMNS).length, 'one check per table and view')
  for (const [kind, name] of [['view', 'v_active_replicas'], ['view', 'v_pool_reliability_ranking'],
    ['procedure', 'compute_daily_savings'], ['procedure', 'compute_pool_reliability'],
    ['procedure', 'compute_pool_reliability_window'], ['column', 'agents.current_replica_id'],
    ['table', 'replica_instances'], ['migration', '006'], ['column', 'spot_pools.id'],
    ['column', 'replica_instances.pool_id'], ['column', 'instance_switches.new_pool_id']] as const) {
    t.equal(find(result.checks, kind, name)?.ok, true, `${kind} ${name}`)
  }
  const report = formatReport(result)
  const lines = report.split('\n')
  t.match(lines[0], /^KIND\s+NAME\s+STATUS\s+DETAIL$/, 'header')
  t.equal(lines.length, result.checks.length + 2, 'header, one line per check, summary')
  t.match(lines.at(-1), /^schema complete: all \d+ checks passed$/, 'summary')
  const statusColumn = lines[0]!.indexOf('STATUS')
  t.ok(lines.slice(1, -1).every((l) => /^(ok|FAIL)\b/.test(l.slice(statusColumn))), 'STATUS column aligned')
})

t.test('the legacy base is reported incomplete, item by item', async (t) => {
  const { db, url, name } = await freshDatabase(t)
  await runSqlFile(url, name, fixture('legacy-base.sql'))
  const result = await verifySchema(db)
  t.notOk(result.ok, 'result.ok is false')
  const expectFail = (kind: Check['kind'], name: string, detail: RegExp) => {
    const c = find(result.checks, kind, name)
    t.equal(c?.ok, false, `${kind} ${name} fails`)
    t.match(c?.detail, detail, `${kind} ${name}: ${c?.detail}`)
  }
  for (const column of ['manual_replica_enabled', 'current_replica_id', 'last_interruption_signal', 'last_failover_at', 'interruption_handled_count']) {
    expectFail('column', `agents.${column}`, /missing/)
  }
  expectFail('table', 'agents', /missing columns: .*manual_replica_enabled/)
  expectFail('table', 'clients', /missing columns: token_hash$/)
  for (const table of ['replica_instances', 'pricing_snapshots_clean', 'spot_interruption_events', 'instance_switches',
    'client_savings_daily', 'pool_reliability_metrics', 'instance_metrics', 'event_log', 'outbox']) {
    expectFail('table', table, /^missing$/)
  }
  expectFail('view', 'v_active_replicas', /^missing$/)
  expectFail('view', 'v_pool_reliability_ranking', /^missing$/)
  expectFail('procedure', 'compute_daily_savings', /^missing$/)
  expectFail('procedure', 'compute_pool_reliability', /^missing$/)
  for (const v of ['006', '007', '008']) expectFail('migration', v, /not recorded/)
  t.equal(find(result.checks, 'migration', '001')?.ok, true, 'legacy 001 is recorded')
  t.equal(find(result.checks, 'table', 'spot_pools')?.ok, true, 'spot_pools has every column')
  expectFail('column', 'spot_pools.id', /^varchar\(64\), expected varchar\(128\)$/)

  const report = formatReport(result)
  const failed = result.checks.filter((c) => !c.ok).length
  t.match(report.split('\n').at(-1), `schema incomplete: ${failed} of ${result.checks.length} checks failed`)
  t.match(report, /view\s+v_active_replicas\s+FAIL\s+missing/)
})

t.test('an empty database: every check fails, without errors', async (t) => {
  const { db } = await freshDatabase(t)
  const result = await verifySchema(db)
  t.ok(result.checks.every((c) => !c.ok), 'all fail')
  t.equal(find(result.checks, 'migration', '001')?.detail, 'schema_migrations missing')
  t.equal(find(result.checks, 'column', 'agents.last_failover_at')?.detail, 'table agents missing')
})

t.test('verify names pool ids that are not <instance_type>.<az>; Local and Wavelength Zones are', async (t) => {
  const { db } = await freshDatabase(t, { migrate: true })
  await sql`INSERT INTO spot_pools (id, instance_type, region, az) VALUES
    ('t3.medium.us-west-2-lax-1a', 't3.medium', 'us-west-2', 'us-west-2-lax-1a'),
    ('r5.2xlarge.us-east-1-wl1-bos-wlz-1', 'r5.2xlarge', 'us-east-1', 'us-east-1-wl1-bos-wlz-1'),
    ('m5.large.us-east-1a', 'm5.large', 'us-east-1', 'us-east-1a')`.execute(db)
  const ok = await verifySchema(db)
  t.ok(ok.ok, 'Local and Wavelength Zone pool ids pass')
  t.equal(ok.checks.find((c) => c.kind === 'data' && c.name === 'spot_pools.id')?.ok, true, 'spot_pools.id values checked')
  await sql`INSERT INTO spot_pools (id, instance_type, region, az) VALUES ('m5.large', 'm5.large', 'us-east-1', 'us-east-1a')`.execute(db)
  const bad = await verifySchema(db)
  const c = bad.checks.find((c) => c.kind === 'data' && c.name === 'spot_pools.id')
  t.equal(c?.ok, false, 'a malformed pool id fails')
  t.equal(c?.detail, "1 value not <instance_type>.<az>, e.g. 'm5.large'")
})
