/**
 * What the migration tests compare: a fingerprint of a database's schema read
 * from information_schema (independent of the database's name), and its rows
 * normalised so that widened types compare equal ('0.1234' = '0.123400',
 * '2025-01-10 09:00:00' = '2025-01-10 09:00:00.000').
 */
import { type Kysely, sql } from 'kysely'

type Row = Record<string, unknown>

async function all(db: Kysely<any>, query: ReturnType<typeof sql>): Promise<Row[]> {
  return (await query.execute(db)).rows as Row[]
}

export interface Fingerprint {
  tables: Row[]
  columns: Row[]
  indexes: Row[]
  constraints: Row[]
  views: Row[]
  routines: Row[]
  parameters: Row[]
}

/** The schema of `name`, with the database name removed from view bodies. */
export async function fingerprint(db: Kysely<any>, name: string): Promise<Fingerprint> {
  const qualifier = new RegExp('`' + name + '`\\.', 'g')
  return {
    tables: await all(db, sql`
      SELECT TABLE_NAME, TABLE_TYPE, ENGINE, TABLE_COLLATION, TABLE_COMMENT
      FROM information_schema.TABLES WHERE TABLE_SCHEMA = ${name} ORDER BY TABLE_NAME`),
    columns: await all(db, sql`
      SELECT TABLE_NAME, COLUMN_NAME, ORDINAL_POSITION, COLUMN_TYPE, IS_NULLABLE, COLUMN_DEFAULT, EXTRA,
             CHARACTER_SET_NAME, COLLATION_NAME, GENERATION_EXPRESSION, COLUMN_COMMENT
      FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ${name} ORDER BY TABLE_NAME, ORDINAL_POSITION`),
    indexes: await all(db, sql`
      SELECT TABLE_NAME, INDEX_NAME, NON_UNIQUE, SEQ_IN_INDEX, COLUMN_NAME, SUB_PART, INDEX_TYPE
      FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ${name} ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX`),
    constraints: await all(db, sql`
      SELECT TABLE_NAME, CONSTRAINT_NAME, CONSTRAINT_TYPE
      FROM information_schema.TABLE_CONSTRAINTS WHERE TABLE_SCHEMA = ${name} ORDER BY TABLE_NAME, CONSTRAINT_NAME`),
    views: (await all(db, sql`
      SELECT TABLE_NAME, VIEW_DEFINITION, CHECK_OPTION, IS_UPDATABLE, SECURITY_TYPE
      FROM information_schema.VIEWS WHERE TABLE_SCHEMA = ${name} ORDER BY TABLE_NAME`))
      .map((v) => ({ ...v, VIEW_DEFINITION: String(v.VIEW_DEFINITION).replace(qualifier, '') })),
    routines: await all(db, sql`
      SELECT ROUTINE_NAME, ROUTINE_TYPE, ROUTINE_DEFINITION, IS_DETERMINISTIC, SQL_DATA_ACCESS, SECURITY_TYPE, SQL_MODE
      FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ${name} ORDER BY ROUTINE_NAME`),
    parameters: await all(db, sql`
      SELECT SPECIFIC_NAME, ORDINAL_POSITION, PARAMETER_MODE, PARAMETER_NAME, DTD_IDENTIFIER
      FROM information_schema.PARAMETERS WHERE SPECIFIC_SCHEMA = ${name} ORDER BY SPECIFIC_NAME, ORDINAL_POSITION`),
  }
}

/** Numbers and date-times as canonical strings, so a widened column holds "the same" value. */
export function normalise(v: unknown): string | null {
  if (v === null || v === undefined) return null
  const s = typeof v === 'string' ? v : String(v)
  if (/^-?\d+\.\d+$/.test(s)) return s.replace(/0+$/, '').replace(/\.$/, '')
  if (/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+$/.test(s)) return s.replace(/\.?0+$/, '')
  return s
}

export async function baseTables(db: Kysely<any>, name: string): Promise<string[]> {
  const r = await all(db, sql`
    SELECT TABLE_NAME AS t FROM information_schema.TABLES
    WHERE TABLE_SCHEMA = ${name} AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME`)
  return r.map((x) => String(x.t))
}

export async function columnNames(db: Kysely<any>, name: string, table: string): Promise<string[]> {
  const r = await all(db, sql`
    SELECT COLUMN_NAME AS c FROM information_schema.COLUMNS
    WHERE TABLE_SCHEMA = ${name} AND TABLE_NAME = ${table} ORDER BY ORDINAL_POSITION`)
  return r.map((x) => String(x.c))
}

/** The rows of `table` projected on `columns`, normalised and sorted (order-independent). */
export async function tableRows(db: Kysely<any>, table: string, columns: readonly string[]): Promise<(string | null)[][]> {
  const r = await sql`SELECT ${sql.join(columns.map((c) => sql.ref(c)))} FROM ${sql.table(table)}`.execute(db)
  return (r.rows as Row[])
    .map((row) => columns.map((c) => normalise(row[c])))
    .sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1))
}

export type RowSnapshot = Record<string, { columns: string[], rows: (string | null)[][] }>

/** Every base table's rows on all its columns (or only `tables`). */
export async function snapshotRows(db: Kysely<any>, name: string, opts: { exclude?: RegExp } = {}): Promise<RowSnapshot> {
  const out: RowSnapshot = {}
  for (const table of await baseTables(db, name)) {
    if (opts.exclude?.test(table)) continue
    const columns = await columnNames(db, name, table)
    out[table] = { columns, rows: await tableRows(db, table, columns) }
  }
  return out
}
