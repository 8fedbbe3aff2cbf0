/**
 * The typed Database interface (through DATABASE_COLUMNS, which the compiler
 * holds equal to it) names exactly the tables, views and columns the
 * migrations create, in their order; and the pool returns the JS types the
 * interface declares.
 */
import { sql } from 'kysely'
import t from 'tap'
import { DATABASE_COLUMNS, VIEWS } from '../../src/db/database.js'
import { freshDatabase } from '../helper-db.js'

const { db, name } = await freshDatabase(t, { migrate: true })

t.test('tables, views and columns', async (t) => {
  const r = await sql<{ t: string, c: string, type: string }>`
    SELECT c.TABLE_NAME AS t, c.COLUMN_NAME AS c, tb.TABLE_TYPE AS type
    FROM information_schema.COLUMNS c
    JOIN information_schema.TABLES tb ON tb.TABLE_SCHEMA = c.TABLE_SCHEMA AND tb.TABLE_NAME = c.TABLE_NAME
    WHERE c.TABLE_SCHEMA = ${name} AND c.TABLE_NAME NOT LIKE 'kysely\\_migration%'
    ORDER BY c.TABLE_NAME, c.ORDINAL_POSITION`.execute(db)
  const actual: Record<string, string[]> = {}
  const views = new Set<string>()
  for (const row of r.rows) {
    (actual[row.t] ??= []).push(row.c)
    if (row.type === 'VIEW') views.add(row.t)
  }
  const declared = Object.keys(DATABASE_COLUMNS).sort()
  t.strictSame(Object.keys(actual).sort(), declared, 'same tables and views')
  t.strictSame([...views].sort(), [...VIEWS].sort(), 'same views')
  for (const table of declared) {
    t.strictSame(actual[table], [...DATABASE_COLUMNS[table as keyof typeof DATABASE_COLUMNS]], `${table}: same columns, same order`)
  }
})

t.test('values come back in the declared JS types', async (t) => {
  await db.insertInto('clients').values({ id: 'c0000000-0000-4000-8000-000000000001', name: 'Types' }).execute()
  await db.insertInto('instance_metrics')
    .values({ instance_id: 'i-1', cpu: '12.50', network_in: 9007199254740991, recorded_at: new Date(Date.UTC(2026, 10, 24, 18, 0, 0, 123)) })
    .execute()
  const client = await db.selectFrom('clients').selectAll().executeTakeFirstOrThrow()
  t.type(client.total_savings, 'string', 'DECIMAL -> string')
  t.equal(client.total_savings, '0.000000')
  t.type(client.is_active, 'number', 'TINYINT(1) -> number')
  t.match(client.created_at, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}$/, 'DATETIME(3) -> string')
  const m = await db.selectFrom('instance_metrics').selectAll().executeTakeFirstOrThrow()
  t.equal(m.id, 1, 'BIGINT AUTO_INCREMENT -> number')
  t.equal(m.network_in, 9007199254740991, 'BIGINT -> number while safe')
  t.equal(m.recorded_at, '2026-11-24 18:00:00.123', 'a Date is written as UTC')
  t.equal(m.cpu, '12.50')
})
