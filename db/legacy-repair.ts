/**
 * Frozen helpers for the migrations: repair legacy data that the target
 * schema cannot hold as it is, before convergeTable tightens the column
 * (in strict mode a NULL into NOT NULL or an enum value the target lacks
 * stops the migration), and record each repair that changed rows in
 * `migration_repairs`, so `migrate` can print them and `migrate verify` show
 * them later. A repair never deletes a row; it is an UPDATE whose WHERE
 * matches only rows still needing it, so a second run changes nothing.
 *
 * A repair keeps `updated_at`: it corrects what the legacy system stored, it
 * is not a change anyone made. Like schema-kit, no application imports.
 */
import { type Kysely, sql } from 'kysely'
import { OPTS, convergeTable, tableExists } from './schema-kit.js'

export const MIGRATION_REPAIRS_DDL = `CREATE TABLE \`migration_repairs\` (
    id BIGINT NOT NULL AUTO_INCREMENT,
    migration VARCHAR(32) NOT NULL,
    repair VARCHAR(96) NOT NULL COMMENT 'table.column:what',
    description VARCHAR(255) NOT NULL,
    row_count INT NOT NULL,
    detail TEXT NULL COMMENT 'e.g. the replicas ended, for the operator',
    applied_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    PRIMARY KEY (id),
    KEY idx_migration_repairs_time (applied_at)
  ) ${OPTS}`

export interface Repair {
  /** `table.column:what`: the key the summary shows. */
  code: string
  description: string
  /** The table updated. */
  table: string
  /** `table.column`s the repair reads or writes: it is skipped when one is absent (the legacy schema had no such column, so no such data). */
  needs: readonly string[]
  /** Joins after the table name (multi-table UPDATE), the SET list and the WHERE condition. */
  join?: string
  set: string
  where: string
  /** A SELECT of one column `detail`, read before the UPDATE and kept with the record. */
  detail?: string
  /** Where to find the whole list when the detail is cut. */
  detailAll?: string
}

/** Characters of detail kept (the column is TEXT; GROUP_CONCAT may return far more). */
const DETAIL_MAX = 4000

export type Has = (tableColumn: string) => boolean

async function presentColumns(db: Kysely<any>): Promise<Has> {
  const r = await sql<{ t: string, c: string }>`
    SELECT TABLE_NAME AS t, COLUMN_NAME AS c FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE()`.execute(db)
  const set = new Set(r.rows.map((x) => `${x.t}.${x.c}`))
  return (tc) => set.has(tc)
}

/** Converges the record table (009 does, so every database has it, whatever was repaired). */
export async function ensureRepairTable(db: Kysely<any>): Promise<void> {
  await convergeTable(db, 'migration_repairs', MIGRATION_REPAIRS_DDL)
}

/**
 * Runs `repairs` in order (each its own transaction: the UPDATE and its
 * record commit together). `build` receives which columns exist, so a repair
 * can choose its expression by them.
 */
export async function runRepairs(db: Kysely<any>, migration: string, build: (has: Has) => Repair[]): Promise<void> {
  // Created here when absent (a repair in 001 records before 009 runs); a
  // plain CREATE, as converging on every call would cost a scratch table each.
  if (!(await tableExists(db, 'migration_repairs'))) await sql.raw(MIGRATION_REPAIRS_DDL).execute(db)
  const has = await presentColumns(db)
  for (const r of build(has)) {
    if (!r.needs.every(has)) continue
    const keep = has(`${r.table}.updated_at`) ? `, \`${r.table}\`.updated_at = \`${r.table}\`.updated_at` : ''
    await db.transaction().execute(async (trx) => {
      const full = r.detail ? (await sql.raw<{ detail: string | null }>(r.detail).execute(trx)).rows[0]?.detail ?? null : null
      const detail = full !== null && full.length > DETAIL_MAX ? `${full.slice(0, DETAIL_MAX)}… (cut; ${r.detailAll ?? 'see the rows'})` : full
      const res = await sql.raw(`UPDATE \`${r.table}\` ${r.join ?? ''} SET ${r.set}${keep} WHERE ${r.where}`).execute(trx)
      const n = Number(res.numAffectedRows ?? 0)
      if (n === 0) return
      await sql`INSERT INTO migration_repairs (migration, repair, description, row_count, detail)
                VALUES (${migration}, ${r.code}, ${r.description}, ${n}, ${detail})`.execute(trx)
    })
  }
}

/** `col = 'X'` for a NULL in a column whose default is X. */
export function nullToDefault(table: string, column: string, value: string, description = `NULL → ${value} (the column default)`): Repair {
  return {
    code: `${table}.${column}:null`, description, table,
    needs: [`${table}.${column}`], set: `\`${table}\`.${column} = ${value}`, where: `\`${table}\`.${column} IS NULL`,
  }
}

/**
 * The original agents wrote the mode `ondemand`, and their schema's default
 * was `unknown`. `ondemand` is a spelling; `unknown` is NULL where the column
 * allows it, else the column's default `spot` (nothing recorded says otherwise;
 * the agent's next heartbeat reports its mode).
 */
export function modeRepairs(table: string, column: string, nullable: boolean): Repair[] {
  const needs = [`${table}.${column}`]
  return [
    { code: `${table}.${column}:ondemand`, description: "'ondemand' → 'on-demand'", table, needs,
      set: `\`${table}\`.${column} = 'on-demand'`, where: `\`${table}\`.${column} = 'ondemand'` },
    { code: `${table}.${column}:unknown`, description: nullable ? "'unknown' → NULL" : "'unknown' → 'spot' (the column default; nothing recorded says otherwise)",
      table, needs, set: `\`${table}\`.${column} = ${nullable ? 'NULL' : "'spot'"}`, where: `\`${table}\`.${column} = 'unknown'` },
  ]
}

const REGION = '[a-z]{2}(-[a-z]+)+-[0-9]+'
/**
 * An AZ: its region plus a letter (us-east-1a), a Local Zone
 * (us-west-2-lax-1a) or a Wavelength Zone (us-east-1-wl1-bos-wlz-1). A pool
 * id is `<family>.<size>.<az>`. `(?-i)`: case-sensitive under a _ci collation.
 */
export const POOL_ID_REGEXP = `(?-i)^[a-z][a-z0-9-]*[.][a-z0-9-]+[.]${REGION}([a-z]|-[a-z]+-[0-9]+[a-z]|-wl[0-9]+-[a-z]+-wlz-[0-9]+)$`

/** SQL expressions splitting the pool id column `col` into its parts (valid only where it matches POOL_ID_REGEXP). */
export function poolIdParts(col: string) {
  const az = `SUBSTRING_INDEX(${col}, '.', -1)`
  return { az, instanceType: `LEFT(${col}, CHAR_LENGTH(${col}) - CHAR_LENGTH(${az}) - 1)`, region: `REGEXP_SUBSTR(${az}, '^${REGION}')` }
}
