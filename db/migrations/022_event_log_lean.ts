/**
 * 022: a leaner event_log row, the largest write of every batch. The payload
 * no longer repeats the envelope its columns hold (src/log/stored-event.ts;
 * rows written before keep the whole event and read as they did), and the
 * index on (type, occurred_at), which no query of the service reads, is
 * dropped: inserting a fleet's rows took 20-24 % less time without the
 * repeated envelope and 6-14 % less without the index (123k rows, 500 a
 * statement, on the 2-core machine). Both ALTERs leave the rows where they
 * are: the column's new comment is instant, the index drop in place without
 * a copy, so a large log migrates in moments.
 */
import type { Kysely } from 'kysely'
import { convergeTable, recordVersion } from '../schema-kit.js'
import { tables as serviceTables } from './008_service_tables.js'

export async function up(db: Kysely<any>): Promise<void> {
  await convergeTable(db, 'event_log', serviceTables['event_log']!)
  await recordVersion(db, '022', 'event_log: payload without the envelope its columns hold; the unread (type, occurred_at) index dropped')
}
