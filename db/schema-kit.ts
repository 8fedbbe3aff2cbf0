/**
 * Frozen helpers for the migrations: bring an existing table to a target
 * `CREATE TABLE` definition, whatever state it is in (absent, legacy, half
 * altered, complete), without losing a row. Portable MariaDB 10.11 / MySQL 8:
 * decisions are read from information_schema, never `ADD COLUMN IF NOT EXISTS`.
 *
 * How: the target is created under a scratch name, both tables are read from
 * information_schema and SHOW CREATE TABLE, and the live table gets ADD/MODIFY
 * COLUMN (with the target's exact definition and position), ADD/DROP INDEX and
 * a charset conversion where they differ. Columns the target does not know are
 * left alone: converging never drops data. A change the data cannot take (a
 * NOT NULL column holding NULLs, an enum value the target lacks, duplicates
 * under a new unique key) fails in strict mode instead of truncating.
 *
 * Like the migrations, this file must not import application code, and its
 * behaviour must not change once released (add a new function instead).
 */
import { type Kysely, sql } from 'kysely'

const q = (name: string) => '`' + name.replace(/`/g, '``') + '`'

interface Column {
  name: string
  position: number
  signature: string
}

interface Index {
  name: string
  signature: string
}

async function rows<T>(db: Kysely<any>, query: ReturnType<typeof sql>): Promise<T[]> {
  return (await query.execute(db)).rows as T[]
}

export async function tableExists(db: Kysely<any>, table: string): Promise<boolean> {
  const r = await rows<{ n: number }>(db, sql`
    SELECT COUNT(*) AS n FROM information_schema.TABLES
    WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ${table} AND TABLE_TYPE = 'BASE TABLE'`)
  return Number(r[0]?.n) > 0
}

async function columns(db: Kysely<any>, table: string): Promise<Column[]> {
  const r = await rows<Record<string, unknown>>(db, sql`
    SELECT COLUMN_NAME, ORDINAL_POSITION, COLUMN_TYPE, IS_NULLABLE, COLUMN_DEFAULT, EXTRA,
           CHARACTER_SET_NAME, COLLATION_NAME, GENERATION_EXPRESSION, COLUMN_COMMENT
    FROM information_schema.COLUMNS
    WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ${table}
    ORDER BY ORDINAL_POSITION`)
  return r.map((c) => ({
    name: String(c.COLUMN_NAME),
    position: Number(c.ORDINAL_POSITION),
    signature: JSON.stringify([c.COLUMN_TYPE, c.IS_NULLABLE, c.COLUMN_DEFAULT, c.EXTRA,
      c.CHARACTER_SET_NAME, c.COLLATION_NAME, c.GENERATION_EXPRESSION ?? null, c.COLUMN_COMMENT ?? '']),
  }))
}

async function indexes(db: Kysely<any>, table: string): Promise<Index[]> {
  const r = await rows<{ INDEX_NAME: string, NON_UNIQUE: number, COLUMN_NAME: string, SUB_PART: number | null }>(db, sql`
    SELECT INDEX_NAME, NON_UNIQUE, COLUMN_NAME, SUB_PART
    FROM information_schema.STATISTICS
    WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ${table}
    ORDER BY INDEX_NAME, SEQ_IN_INDEX`)
  const byName = new Map<string, string[]>()
  for (const i of r) {
    const parts = byName.get(i.INDEX_NAME) ?? [String(Number(i.NON_UNIQUE))]
    parts.push(`${i.COLUMN_NAME}${i.SUB_PART == null ? '' : `(${i.SUB_PART})`}`)
    byName.set(i.INDEX_NAME, parts)
  }
  return [...byName].map(([name, parts]) => ({ name, signature: parts.join(',') }))
}

async function tableCollation(db: Kysely<any>, table: string): Promise<string> {
  const r = await rows<{ TABLE_COLLATION: string }>(db, sql`
    SELECT TABLE_COLLATION FROM information_schema.TABLES
    WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ${table}`)
  return String(r[0]?.TABLE_COLLATION)
}

/** Lines of SHOW CREATE TABLE: column name -> definition, index name -> definition. */
async function createTableParts(db: Kysely<any>, table: string) {
  const r = await rows<Record<string, string>>(db, sql.raw(`SHOW CREATE TABLE ${q(table)}`))
  const text = Object.values(r[0] ?? {})[1] ?? ''
  const cols = new Map<string, string>()
  const keys = new Map<string, string>()
  for (const raw of text.split('\n').slice(1, -1)) {
    const line = raw.trim().replace(/,$/, '')
    const col = /^`((?:[^`]|``)+)` /.exec(line)
    if (col) { cols.set(col[1]!.replace(/``/g, '`'), line); continue }
    if (line.startsWith('PRIMARY KEY')) keys.set('PRIMARY', line)
    const key = /^(?:UNIQUE |FULLTEXT |SPATIAL )?KEY `((?:[^`]|``)+)`/.exec(line)
    if (key) keys.set(key[1]!.replace(/``/g, '`'), line)
  }
  return { cols, keys }
}

/**
 * Make `table` match `createSql` (a `CREATE TABLE <table> (...)` statement
 * without IF NOT EXISTS). Returns the statements it ran, for logging.
 */
export async function convergeTable(db: Kysely<any>, table: string, createSql: string): Promise<string[]> {
  const head = new RegExp(`^\\s*CREATE TABLE ${q(table).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\s*\\(`)
  if (!head.test(createSql)) throw new Error(`convergeTable(${table}): statement must start with CREATE TABLE ${q(table)} (`)
  if (!(await tableExists(db, table))) {
    await sql.raw(createSql).execute(db)
    return [`CREATE TABLE ${table}`]
  }
  const scratch = `_target_${table}`.slice(0, 64)
  await sql.raw(`DROP TABLE IF EXISTS ${q(scratch)}`).execute(db)
  await sql.raw(createSql.replace(head, `CREATE TABLE ${q(scratch)} (`)).execute(db)
  try {
    const done: string[] = []
    const run = async (stmt: string) => { await sql.raw(stmt).execute(db); done.push(stmt) }

    const targetCollation = await tableCollation(db, scratch)
    if ((await tableCollation(db, table)) !== targetCollation) {
      const charset = targetCollation.split('_')[0]
      await run(`ALTER TABLE ${q(table)} CONVERT TO CHARACTER SET ${charset} COLLATE ${targetCollation}`)
    }

    const want = await columns(db, scratch)
    const { cols: defs, keys: keyDefs } = await createTableParts(db, scratch)
    let prev: string | null = null
    // Re-read only after an ALTER (positions shift): a table that already
    // matches costs one information_schema read, not one per column.
    let have = await columns(db, table)
    for (const col of want) {
      const found = have.find((c) => c.name === col.name)
      const place = prev === null ? 'FIRST' : `AFTER ${q(prev)}`
      const def = defs.get(col.name)!
      if (!found) {
        await run(`ALTER TABLE ${q(table)} ADD COLUMN ${def} ${place}`)
        have = await columns(db, table)
      } else {
        const expectedPosition = (prev === null ? 0 : have.find((c) => c.name === prev)!.position) + 1
        if (found.signature !== col.signature || found.position !== expectedPosition) {
          await run(`ALTER TABLE ${q(table)} MODIFY COLUMN ${def} ${place}`)
          have = await columns(db, table)
        }
      }
      prev = col.name
    }

    // Indexes hold no data: ones the target lacks are dropped, so every
    // starting point ends with the same set.
    const wantIdx = await indexes(db, scratch)
    const haveIdx = await indexes(db, table)
    for (const idx of haveIdx) {
      if (!wantIdx.some((i) => i.name === idx.name)) {
        await run(idx.name === 'PRIMARY' ? `ALTER TABLE ${q(table)} DROP PRIMARY KEY` : `ALTER TABLE ${q(table)} DROP INDEX ${q(idx.name)}`)
      }
    }
    for (const idx of wantIdx) {
      const found = haveIdx.find((i) => i.name === idx.name)
      if (found?.signature === idx.signature) continue
      const def = keyDefs.get(idx.name)!
      const drop = found ? (idx.name === 'PRIMARY' ? 'DROP PRIMARY KEY, ' : `DROP INDEX ${q(idx.name)}, `) : ''
      await run(`ALTER TABLE ${q(table)} ${drop}ADD ${def}`)
    }
    return done
  } finally {
    await sql.raw(`DROP TABLE IF EXISTS ${q(scratch)}`).execute(db)
  }
}

/** Replace a view (its definition is the migration's, whatever was there). */
export async function replaceView(db: Kysely<any>, name: string, selectSql: string): Promise<void> {
  await sql.raw(`CREATE OR REPLACE SQL SECURITY INVOKER VIEW ${q(name)} AS ${selectSql}`).execute(db)
}

/** Replace a stored procedure; one statement each, so no DELIMITER is needed. */
export async function replaceProcedure(db: Kysely<any>, name: string, createSql: string): Promise<void> {
  await sql.raw(`DROP PROCEDURE IF EXISTS ${q(name)}`).execute(db)
  await sql.raw(createSql).execute(db)
}

/** The seed's tracking table: `SELECT * FROM schema_migrations ORDER BY version DESC`. */
export async function recordVersion(db: Kysely<any>, version: string, description: string): Promise<void> {
  await sql`
    INSERT INTO schema_migrations (version, description, applied_at)
    VALUES (${version}, ${description}, CURRENT_TIMESTAMP(3))
    ON DUPLICATE KEY UPDATE description = VALUES(description)`.execute(db)
}

/** Table options every table of this schema uses. */
export const OPTS = 'ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci'
