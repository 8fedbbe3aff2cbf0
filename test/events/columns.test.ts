// The wire accepts only what the columns hold. Walks every field of every
// wire event type (and of the HTTP user requests; the HTTP bodies are built
// from these same field schemas) to the limit it was built from
// (src/events/limits.ts), checks that the zod schema keeps to that limit, and
// checks each limit against information_schema of a freshly migrated
// database: type, length, precision and scale, integer range, enum values.
import { sql } from 'kysely'
import t, { type Test } from 'tap'
import { z } from 'zod'
import { UserRequestSchema } from '../../src/agent/agent.events.js'
import { INT_MAX, LIMITS, wireLimits, type ColumnLimit, type LimitName } from '../../src/events/limits.js'
import { EventSchema } from '../../src/events/schemas.js'
import { freshDatabase } from '../helper-db.js'

interface ColumnInfo {
  TABLE_NAME: string
  COLUMN_NAME: string
  DATA_TYPE: string
  COLUMN_TYPE: string
  CHARACTER_MAXIMUM_LENGTH: number | string | null
  CHARACTER_OCTET_LENGTH: number | string | null
  NUMERIC_PRECISION: number | string | null
  NUMERIC_SCALE: number | string | null
}

const INTEGER_RANGE: Record<string, [bigint, bigint]> = {
  tinyint: [-(2n ** 7n), 2n ** 7n - 1n], smallint: [-(2n ** 15n), 2n ** 15n - 1n], mediumint: [-(2n ** 23n), 2n ** 23n - 1n],
  int: [-(2n ** 31n), 2n ** 31n - 1n], bigint: [-(2n ** 63n), 2n ** 63n - 1n],
}

/** enum('a','b') -> ['a', 'b'] (the values here hold no quotes or commas). */
const enumValues = (columnType: string): string[] => [...columnType.matchAll(/'([^']*)'/g)].map((m) => m[1]!)

/** What is wrong with `col` as a column of `limit`, or null. */
function mismatch(limit: ColumnLimit, col: ColumnInfo): string | null {
  const length = Number(col.CHARACTER_MAXIMUM_LENGTH)
  const type = col.DATA_TYPE
  switch (limit.kind) {
    case 'string':
      return ['varchar', 'char'].includes(type) && length === limit.maxChars ? null : `expected VARCHAR(${limit.maxChars})`
    case 'uuid':
      return ['varchar', 'char'].includes(type) && length === 36 ? null : 'expected CHAR(36) or VARCHAR(36)'
    case 'text':
      if (type === 'varchar') return length === limit.maxChars ? null : `expected VARCHAR(${limit.maxChars})`
      // TEXT counts bytes; utf8mb4 takes up to 4 per character.
      return type.endsWith('text') && Number(col.CHARACTER_OCTET_LENGTH) >= 4 * limit.maxChars ? null : `expected a TEXT of ${4 * limit.maxChars} bytes`
    case 'enum': {
      const values = enumValues(col.COLUMN_TYPE)
      return type === 'enum' && values.length === limit.values.length && limit.values.every((v) => values.includes(v))
        ? null : `expected ENUM(${limit.values.join(',')})`
    }
    case 'integer': {
      const range = INTEGER_RANGE[type]
      if (range === undefined) return 'expected an integer column'
      const [min, max] = col.COLUMN_TYPE.includes('unsigned') ? [0n, 2n * range[1] + 1n] : range
      return BigInt(limit.min) >= min && BigInt(limit.max) <= max ? null : `[${limit.min}, ${limit.max}] exceeds ${col.COLUMN_TYPE}`
    }
    case 'number': {
      const p = Number(col.NUMERIC_PRECISION)
      const s = Number(col.NUMERIC_SCALE)
      const bound = 10 ** (p - s)
      return type === 'decimal' && s === limit.scale && limit.max < bound && limit.min > -bound
        ? null : `[${limit.min}, ${limit.max}] at ${limit.scale} places exceeds ${col.COLUMN_TYPE}`
    }
    case 'money':
      return type === 'decimal' && Number(col.NUMERIC_PRECISION) === limit.precision && Number(col.NUMERIC_SCALE) === limit.scale
        ? null : `expected DECIMAL(${limit.precision},${limit.scale})`
    case 'boolean':
      return col.COLUMN_TYPE === 'tinyint(1)' ? null : 'expected TINYINT(1)'
    case 'datetime':
      return type === 'datetime' ? null : 'expected DATETIME'
    case 'payload':
      return 'a payload-only limit names no column'
  }
}

t.test('every limit matches each of its columns in the migrated database', async (t) => {
  const { db, name } = await freshDatabase(t, { migrate: true })
  const r = await sql<ColumnInfo>`
    SELECT TABLE_NAME, COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, CHARACTER_MAXIMUM_LENGTH, CHARACTER_OCTET_LENGTH,
           NUMERIC_PRECISION, NUMERIC_SCALE
      FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ${name}`.execute(db)
  const columns = new Map(r.rows.map((c) => [`${c.TABLE_NAME}.${c.COLUMN_NAME}`, c]))
  t.ok(columns.size > 100, 'information_schema read')
  for (const [limitName, limit] of Object.entries(LIMITS) as [LimitName, ColumnLimit][]) {
    for (const ref of limit.columns) {
      const col = columns.get(ref)
      if (col === undefined) { t.fail(`${limitName}: column ${ref} does not exist`); continue }
      t.equal(mismatch(limit, col), null, `${limitName} -> ${ref} (${col.COLUMN_TYPE})`)
    }
  }

  // The envelope's type and version are literals, not limits: they must fit too.
  const typeColumns = ['event_log.type', 'dead_letter_events.event_type', 'outbox.type']
  for (const ref of typeColumns) {
    const col = columns.get(ref)!
    const longest = Math.max(...EventSchema.options.map((o) => o.shape.type.value.length), ...UserRequestSchema.options.map((o) => o.shape.type.value.length))
    t.ok(longest <= Number(col.CHARACTER_MAXIMUM_LENGTH), `every type name fits ${ref} (${col.COLUMN_TYPE})`)
  }
  t.equal(columns.get('event_log.version')?.DATA_TYPE, 'int')
  t.ok(EventSchema.options.every((o) => o.shape.version.value <= INT_MAX), 'every version fits event_log.version')
})

type Field = { where: string, schema: z.ZodType }

/** The envelope and data fields of every wire type and HTTP user request. */
function wireFields(): Field[] {
  const out: Field[] = []
  for (const o of [...EventSchema.options, ...UserRequestSchema.options]) {
    const type = o.shape.type.value
    for (const key of ['eventId', 'occurredAt', 'clientId', 'agentId'] as const) out.push({ where: `${type} ${key}`, schema: o.shape[key] })
    for (const [key, schema] of Object.entries(o.shape.data.shape)) out.push({ where: `${type} data.${key}`, schema: schema as z.ZodType })
  }
  return out
}

const unwrap = (s: z.ZodType): z.ZodType => (s instanceof z.ZodOptional || s instanceof z.ZodNullable ? unwrap(s.unwrap() as z.ZodType) : s)
const accepts = (s: z.ZodType, v: unknown) => s.safeParse(v).success

/** Checks that `schema` accepts no more than `limit` allows (and, where it can be probed, all of it). */
function keepsTo(t: Test, where: string, schema: z.ZodType, limit: ColumnLimit): void {
  switch (limit.kind) {
    case 'string':
    case 'payload':
      t.ok(schema instanceof z.ZodString && schema.maxLength === limit.maxChars, `${where}: at most ${limit.maxChars} characters`)
      t.notOk(accepts(schema, 'a'.repeat(limit.maxChars + 1)), `${where}: ${limit.maxChars + 1} characters refused`)
      return
    case 'text': {
      const cut = (s: string) => { const r = schema.safeParse(s); return r.success && typeof r.data === 'string' ? Array.from(r.data).length : -1 }
      t.equal(cut('x'.repeat(limit.maxChars * 3)), limit.maxChars, `${where}: long text accepted and cut to ${limit.maxChars}`)
      t.equal(cut('😀'.repeat(limit.maxChars + 1)), limit.maxChars, `${where}: cut by characters`)
      return
    }
    case 'uuid':
      t.ok(schema instanceof z.ZodUUID, `${where}: a uuid`)
      return
    case 'enum':
      t.ok(schema instanceof z.ZodEnum, `${where}: an enum`)
      if (schema instanceof z.ZodEnum) t.same([...schema.options].sort(), [...limit.values].sort(), `${where}: the column's values`)
      return
    case 'integer':
    case 'number': {
      t.ok(schema instanceof z.ZodNumber, `${where}: a number`)
      if (!(schema instanceof z.ZodNumber)) return
      t.ok((schema.minValue ?? -Infinity) >= limit.min && (schema.maxValue ?? Infinity) <= limit.max, `${where}: within [${limit.min}, ${limit.max}]`)
      if (limit.kind === 'integer' && limit.whole) t.ok(schema.isInt, `${where}: whole numbers only`)
      t.ok(accepts(schema, limit.max) && accepts(schema, limit.min), `${where}: the limits themselves accepted`)
      t.notOk(accepts(schema, limit.max + (limit.max >= 2 ** 53 ? limit.max : 1)), `${where}: beyond the maximum refused`)
      return
    }
    case 'money': {
      const max = `${'9'.repeat(limit.precision - limit.scale)}.${'9'.repeat(limit.scale)}`
      t.equal(schema.safeParse(max).data, max, `${where}: ${max} accepted`)
      t.notOk(accepts(schema, `1${'0'.repeat(limit.precision - limit.scale)}`), `${where}: 10^${limit.precision - limit.scale} refused`)
      t.equal(schema.safeParse(`0.${'0'.repeat(limit.scale - 1)}15`).data, `0.${'0'.repeat(limit.scale - 1)}2`, `${where}: rounded to ${limit.scale} places`)
      t.notOk(accepts(schema, -1), `${where}: negative refused`)
      return
    }
    case 'boolean':
      t.ok(schema instanceof z.ZodBoolean, `${where}: a boolean`)
      return
    case 'datetime':
      t.ok(accepts(schema, '9999-12-31T23:59:59.999Z') && accepts(schema, '1970-01-01T00:00:00Z'), `${where}: DATETIME's range accepted`)
      t.notOk(accepts(schema, '9999-12-31T23:59:59.999-01:00'), `${where}: year 10000 in UTC refused`)
      t.notOk(accepts(schema, '0999-12-31T23:59:59Z'), `${where}: before year 1000 refused`)
  }
}

t.test('every wire and HTTP field has a limit, and its schema keeps to it', async (t) => {
  const fields = wireFields()
  t.ok(fields.length > 80, `${fields.length} fields walked`)
  const used = new Set<LimitName>()
  for (const { where, schema } of fields) {
    const inner = unwrap(schema)
    const meta = wireLimits.get(inner)
    if (meta === undefined) { t.fail(`${where}: built from no limit of src/events/limits.ts`); continue }
    used.add(meta.limit)
    keepsTo(t, `${where} (${meta.limit})`, inner, LIMITS[meta.limit])
  }
  t.same([...used].sort(), Object.keys(LIMITS).sort(), 'every limit is some field\'s')
})
