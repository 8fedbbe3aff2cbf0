/**
 * Keyset pages over lists that grow (switch history, interruptions, dead
 * letters): newest first by (time, id), the cursor is the last row's key, so
 * a page never repeats or skips a row while new ones arrive.
 */
import { sql } from 'kysely'

/** The key of the last row of a page: a DATETIME text and the row id. */
export interface Cursor { at: string, id: number }

export interface Page<T> { items: T[], next: Cursor | null }

/** Which page to read: after `cursor` (the first page without one), at most `limit` rows. */
export interface PageRequest { cursor?: Cursor | undefined, limit: number }

/** Rows strictly after `cursor` in (timeColumn desc, idColumn desc) order. */
export function after(timeColumn: string, idColumn: string, cursor: Cursor) {
  const t = sql.ref(timeColumn)
  return sql<boolean>`(${t} < ${cursor.at} OR (${t} = ${cursor.at} AND ${sql.ref(idColumn)} < ${cursor.id}))`
}

/** Cuts `rows` (fetched with limit + 1) to a page, keyed by `key`. */
export function pageOf<R, T>(rows: readonly R[], limit: number, key: (r: R) => Cursor, map: (r: R) => T): Page<T> {
  const items = rows.slice(0, limit)
  const last = items.at(-1)
  return { items: items.map(map), next: rows.length > limit && last !== undefined ? key(last) : null }
}
