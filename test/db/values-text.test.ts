/**
 * valuesText (statement-bytes.ts): rows written as VALUES text come back from
 * MariaDB exactly as given (quotes, backslashes, control characters,
 * multi-byte text, NULL), a missing column takes its DEFAULT, and the lists
 * are cut under the byte and row limits.
 */
import { sql } from 'kysely'
import t from 'tap'
import { valuesText } from '../../src/db/statement-bytes.js'
import { freshDatabase } from '../helper-db.js'

const TRICKY = ["it's", 'back\\slash', 'dq"', 'nl\nand\ttab\r', 'nul\0byte', '\x1a\b', 'é€😀', '', "'; DROP TABLE x; --", '\\\'']

t.test('rows round-trip; missing columns take their default; lists are cut by bytes and rows', async (t) => {
  const { db } = await freshDatabase(t)
  await sql`CREATE TABLE vt (id INT NOT NULL PRIMARY KEY, s VARCHAR(100) NULL, d DECIMAL(12,6) NULL, k VARCHAR(10) NOT NULL DEFAULT 'dflt')
    CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`.execute(db)
  const rows: { id: number, s: string | null, d: string | null, k?: string }[] = []
  for (let i = 0; i < 300; i++) rows.push({ id: i, s: i % 7 === 0 ? null : `${TRICKY[i % TRICKY.length]}-${i}`, d: i % 5 === 0 ? null : `${i}.000125`, ...(i % 3 === 0 ? {} : { k: `k${i}` }) })
  const cols = ['id', 's', 'd', 'k'] as const
  const chunks = valuesText(cols, rows, 40, 1000)
  t.ok(chunks.length >= 12, `cut into ${chunks.length} lists`)
  for (const c of chunks) {
    const text = c.compile(db).sql
    t.ok(Buffer.byteLength(text) <= 1000 + 7, 'under the byte limit')
    t.ok(text.split('), (').length <= 40, 'at most 40 rows')
    await sql`INSERT INTO vt (id, s, d, k) ${c}`.execute(db)
  }
  const back = await sql<{ id: number, s: string | null, d: string | null, k: string }>`SELECT id, s, d, k FROM vt ORDER BY id`.execute(db)
  t.same(back.rows.map((r) => ({ ...r, id: Number(r.id) })), rows.map((r) => ({ id: r.id, s: r.s, d: r.d, k: r.k ?? 'dflt' })))
})
