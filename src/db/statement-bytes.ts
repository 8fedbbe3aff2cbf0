/**
 * Statements are cut by bytes as well as rows: the server refuses (and
 * mysql2 sees a reset connection for) any statement larger than its
 * `max_allowed_packet`, which no retry can fix. mysql2 interpolates values
 * into the statement text client-side, so the size of a row is the size of
 * its escaped values: a Buffer goes as X'hex' (twice its length), a string
 * with a backslash before each quote, backslash and control character.
 */
import { type Kysely, type RawBuilder, sql } from 'kysely'
import { type SqlValue, escape } from 'mysql2'

/** Room for the statement's own text (INSERT INTO ... (columns) ... ON DUPLICATE KEY ...). */
const STATEMENT_TEXT = 16 * 1024

/** Used when the server's limit was not read: MySQL's smallest shipped default (1 MiB at 5.6). */
export const DEFAULT_STATEMENT_BYTES = 1024 * 1024 - STATEMENT_TEXT

/** The largest statement the server takes, read from `@@max_allowed_packet`, less room for the statement text. */
export async function readStatementBytes(db: Kysely<any>): Promise<number> {
  const { rows } = await sql<{ packet: number | string }>`SELECT @@max_allowed_packet AS packet`.execute(db)
  return Number(rows[0]!.packet) - STATEMENT_TEXT
}

const ESCAPED = /[\0\b\t\n\r\x1a"'\\]/g
/** The same class without /g: a test that allocates nothing, for the usual string with nothing to escape. */
const ANY_ESCAPED = /[\0\b\t\n\r\x1a"'\\]/

/** Bytes of one value in an interpolated statement. */
export function valueBytes(v: unknown): number {
  if (v === null || v === undefined) return 4
  if (Buffer.isBuffer(v)) return 2 * v.length + 3
  if (typeof v === 'string') return Buffer.byteLength(v) + (ANY_ESCAPED.test(v) ? v.match(ESCAPED)!.length : 0) + 2
  return 32
}

/** Bytes of one row of a multi-row INSERT: its values, commas and parentheses. */
export function rowBytes(row: object): number {
  let n = 2
  for (const v of Object.values(row)) n += valueBytes(v) + 1
  return n
}

/** Greedy chunks of at most `maxRows` rows and `maxBytes` bytes; a row bigger than `maxBytes` goes alone. */
export function chunkByBytes<T>(rows: readonly T[], maxRows: number, maxBytes: number, size: (row: T) => number): T[][] {
  const chunks: T[][] = []
  let cur: T[] = []
  let bytes = 0
  for (const r of rows) {
    const b = size(r)
    if (cur.length > 0 && (cur.length >= maxRows || bytes + b > maxBytes)) {
      chunks.push(cur)
      cur = []
      bytes = 0
    }
    cur.push(r)
    bytes += b
  }
  if (cur.length > 0) chunks.push(cur)
  return chunks
}

/**
 * Runs `write` over `rows` in multi-row statements of at most `maxRows` rows
 * under the smallest max_allowed_packet: a projection's batch (a replay page
 * holds 25,000 log rows) must never make a statement the server resets the
 * connection for, which would make the partition or the replay retry for ever.
 */
export async function inStatements<T extends object>(rows: readonly T[], write: (chunk: T[]) => Promise<unknown>, maxRows = 2000): Promise<void> {
  for (const chunk of chunkByBytes(rows, maxRows, DEFAULT_STATEMENT_BYTES, rowBytes)) await write(chunk)
}

/** One value as SQL text: escape()'s own result, without its dispatch for the usual string with nothing to escape and NULL. */
function literal(v: SqlValue): string {
  if (v === null) return 'NULL'
  if (typeof v === 'string' && !ANY_ESCAPED.test(v)) return `'${v}'`
  return escape(v)
}

/**
 * The VALUES lists of a multi-row INSERT as text, each cut under `maxBytes`
 * (measured on the text itself) and `maxRows`, for the inserts of the most
 * rows (a replay writes millions): each value escaped once, by mysql2's own
 * escaping (what its client-side interpolation does), where values() builds
 * a node per value, compiles it to a placeholder and mysql2 then
 * interpolates it again. Columns in `cols` order; a missing one is DEFAULT,
 * as in values(). Use with `.columns(cols).expression(chunk)`.
 */
export function valuesText<C extends string, R extends { readonly [K in C]?: SqlValue }>(cols: readonly C[], rows: readonly R[], maxRows = 2000, maxBytes = DEFAULT_STATEMENT_BYTES): RawBuilder<unknown>[] {
  const out: RawBuilder<unknown>[] = []
  let cur: string[] = []
  let bytes = 0
  const flush = () => { if (cur.length > 0) out.push(sql.raw(`values ${cur.join(', ')}`)); cur = []; bytes = 0 }
  for (const r of rows) {
    let text = '('
    for (let i = 0; i < cols.length; i++) {
      const v = r[cols[i]!]
      if (i > 0) text += ', '
      text += v === undefined ? 'DEFAULT' : literal(v)
    }
    text += ')'
    const b = Buffer.byteLength(text) + 2
    if (cur.length >= maxRows || (cur.length > 0 && bytes + b > maxBytes)) flush()
    cur.push(text)
    bytes += b
  }
  flush()
  return out
}
