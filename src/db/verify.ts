/**
 * `migrate verify`: the seed guide's verification commands (DESCRIBE agents,
 * SHOW TABLES, SHOW FULL TABLES WHERE Table_type = 'VIEW', SHOW PROCEDURE
 * STATUS, SELECT * FROM schema_migrations) as checks with a verdict each,
 * read from information_schema. Expected tables and columns come from
 * DATABASE_COLUMNS, the same list the typed Database interface is held to.
 * Also: every stored pool id is `<instance_type>.<az>` (Local and Wavelength
 * Zones included), and the legacy-data repairs the migrations recorded.
 */
import { type Kysely, sql } from 'kysely'
import { POOL_ID_REGEXP } from '../../db/legacy-repair.js'
import { DATABASE_COLUMNS, VIEWS } from './database.js'
import { type RepairRecord, formatRepairs, readRepairs } from './repairs.js'

export type CheckKind = 'table' | 'column' | 'view' | 'procedure' | 'migration' | 'data'

export interface Check {
  kind: CheckKind
  name: string
  ok: boolean
  detail?: string
}

export interface VerifyResult {
  ok: boolean
  checks: Check[]
  /** What migrate changed in legacy data, oldest first (information, not a check). */
  repairs: RepairRecord[]
}

/** The agent columns the seed guide names as critical, checked one by one. */
export const SEED_AGENT_COLUMNS = [
  'manual_replica_enabled', 'current_replica_id', 'last_interruption_signal', 'last_failover_at', 'interruption_handled_count',
] as const

/** Procedures and their parameter types, in order. */
export const PROCEDURES: Record<string, readonly string[]> = {
  compute_daily_savings: ['date'],
  compute_pool_reliability: ['int'],
  compute_pool_reliability_window: ['datetime', 'datetime'],
}

export const MIGRATION_VERSIONS = ['001', '006', '007', '008', '009', '010', '011', '012', '013', '014', '016', '019', '020', '021', '022'] as const

/** Pool ids are `<instance_type>.<az>`, VARCHAR(128) everywhere (the original files used narrower ones). */
export const POOL_ID_TYPE = 'varchar(128)'
const isPoolIdColumn = (table: string, column: string) => /(^|_)pool_id$/.test(column) || (table === 'spot_pools' && column === 'id')

const isView = (name: string) => (VIEWS as readonly string[]).includes(name)

function missingColumns(expected: readonly string[], have: Set<string> | undefined): string[] {
  return expected.filter((c) => !have?.has(c))
}

async function readSchema(db: Kysely<any>) {
  const tables = await sql<{ name: string, type: string }>`
    SELECT TABLE_NAME AS name, TABLE_TYPE AS type FROM information_schema.TABLES
    WHERE TABLE_SCHEMA = DATABASE()`.execute(db)
  const columns = await sql<{ t: string, c: string, type: string }>`
    SELECT TABLE_NAME AS t, COLUMN_NAME AS c, COLUMN_TYPE AS type FROM information_schema.COLUMNS
    WHERE TABLE_SCHEMA = DATABASE()`.execute(db)
  const params = await sql<{ name: string, type: string | null }>`
    SELECT r.ROUTINE_NAME AS name, p.DATA_TYPE AS type
    FROM information_schema.ROUTINES r
    LEFT JOIN information_schema.PARAMETERS p
      ON p.SPECIFIC_SCHEMA = r.ROUTINE_SCHEMA AND p.SPECIFIC_NAME = r.ROUTINE_NAME AND p.ORDINAL_POSITION > 0
    WHERE r.ROUTINE_SCHEMA = DATABASE() AND r.ROUTINE_TYPE = 'PROCEDURE'
    ORDER BY r.ROUTINE_NAME, p.ORDINAL_POSITION`.execute(db)

  const tableType = new Map(tables.rows.map((r) => [r.name, r.type]))
  const poolIdColumns = columns.rows.filter((r) => tableType.get(r.t) === 'BASE TABLE' && isPoolIdColumn(r.t, r.c))
  const columnsOf = new Map<string, Set<string>>()
  for (const r of columns.rows) columnsOf.set(r.t, (columnsOf.get(r.t) ?? new Set()).add(r.c))
  const procedures = new Map<string, string[]>()
  for (const r of params.rows) {
    const list = procedures.get(r.name) ?? []
    if (r.type !== null) list.push(r.type.toLowerCase())
    procedures.set(r.name, list)
  }
  return { tableType, columnsOf, procedures, poolIdColumns }
}

async function appliedVersions(db: Kysely<any>, hasTable: boolean): Promise<Set<string>> {
  if (!hasTable) return new Set()
  const r = await sql<{ version: string }>`SELECT version FROM schema_migrations`.execute(db)
  return new Set(r.rows.map((x) => x.version))
}

/** Pool ids in `table.column` that are not `<instance_type>.<az>`: how many, and the smallest. */
async function poolIdValues(db: Kysely<any>, table: string, column: string): Promise<Check> {
  const r = await sql<{ n: number, example: string | null }>`
    SELECT COUNT(*) AS n, MIN(${sql.ref(column)}) AS example FROM ${sql.table(table)}
    WHERE ${sql.ref(column)} IS NOT NULL AND NOT (CONVERT(${sql.ref(column)} USING utf8mb4) REGEXP ${POOL_ID_REGEXP})`.execute(db)
  const n = Number(r.rows[0]?.n ?? 0)
  const name = `${table}.${column}`
  return n === 0
    ? { kind: 'data', name, ok: true }
    : { kind: 'data', name, ok: false, detail: `${n} value${n === 1 ? '' : 's'} not <instance_type>.<az>, e.g. '${r.rows[0]?.example}'` }
}

export async function verifySchema(db: Kysely<any>): Promise<VerifyResult> {
  const { tableType, columnsOf, procedures, poolIdColumns } = await readSchema(db)
  const checks: Check[] = []

  for (const [name, expected] of Object.entries(DATABASE_COLUMNS)) {
    const kind = isView(name) ? 'view' : 'table'
    const type = tableType.get(name)
    const wantType = kind === 'view' ? 'VIEW' : 'BASE TABLE'
    if (type === undefined) {
      checks.push({ kind, name, ok: false, detail: 'missing' })
    } else if (type !== wantType) {
      checks.push({ kind, name, ok: false, detail: `is a ${type.toLowerCase()}, expected a ${wantType.toLowerCase()}` })
    } else {
      const missing = missingColumns(expected, columnsOf.get(name))
      checks.push(missing.length
        ? { kind, name, ok: false, detail: `missing columns: ${missing.join(', ')}` }
        : { kind, name, ok: true })
    }
  }

  const agentColumns = columnsOf.get('agents')
  for (const column of SEED_AGENT_COLUMNS) {
    const ok = agentColumns?.has(column) ?? false
    checks.push({ kind: 'column', name: `agents.${column}`, ok, ...(ok ? {} : { detail: agentColumns ? 'missing' : 'table agents missing' }) })
  }

  for (const { t, c, type } of poolIdColumns) {
    const ok = type.toLowerCase() === POOL_ID_TYPE
    checks.push({ kind: 'column', name: `${t}.${c}`, ok, ...(ok ? {} : { detail: `${type}, expected ${POOL_ID_TYPE}` }) })
  }
  for (const { t, c } of poolIdColumns) checks.push(await poolIdValues(db, t, c))

  for (const [name, want] of Object.entries(PROCEDURES)) {
    const have = procedures.get(name)
    if (!have) checks.push({ kind: 'procedure', name, ok: false, detail: 'missing' })
    else if (have.join(',') !== want.join(',')) {
      checks.push({ kind: 'procedure', name, ok: false, detail: `parameters (${have.join(', ')}), expected (${want.join(', ')})` })
    } else checks.push({ kind: 'procedure', name, ok: true })
  }

  const hasTracking = tableType.get('schema_migrations') === 'BASE TABLE'
  const versions = await appliedVersions(db, hasTracking)
  for (const version of MIGRATION_VERSIONS) {
    const ok = versions.has(version)
    checks.push({
      kind: 'migration', name: version, ok,
      ...(ok ? {} : { detail: hasTracking ? 'not recorded in schema_migrations' : 'schema_migrations missing' }),
    })
  }

  return { ok: checks.every((c) => c.ok), checks, repairs: await readRepairs(db) }
}

/** An aligned text table, one line per check, then a summary line. */
export function formatReport(result: VerifyResult): string {
  const rows = [['KIND', 'NAME', 'STATUS', 'DETAIL'],
    ...result.checks.map((c) => [c.kind, c.name, c.ok ? 'ok' : 'FAIL', c.detail ?? ''])]
  const widths = [0, 1, 2].map((i) => Math.max(...rows.map((r) => r[i]!.length)))
  const lines = rows.map((r) => r.map((cell, i) => (i < 3 ? cell.padEnd(widths[i]!) : cell)).join('  ').trimEnd())
  if (result.repairs.length > 0) {
    const rows = result.repairs.reduce((n, r) => n + r.rowCount, 0)
    lines.push('', `legacy data repaired by migrate (${result.repairs.length} repairs, ${rows} rows):`, ...formatRepairs(result.repairs), '')
  }
  const failed = result.checks.filter((c) => !c.ok).length
  lines.push(failed === 0
    ? `schema complete: all ${result.checks.length} checks passed`
    : `schema incomplete: ${failed} of ${result.checks.length} checks failed`)
  return lines.join('\n')
}
