/**
 * The swap gate: every applying transaction share-locks the one replay_gate
 * row as its first statement; a replay's swap locks it exclusively, so while
 * it catches up the last events and renames the rebuilt tables in, no batch
 * is in flight and none starts. Before any other statement, so a waiting
 * batch holds no metadata lock on the tables being renamed.
 */
import { sql, type Transaction } from 'kysely'
import type { Database } from '../db/database.js'

export async function passGate(trx: Transaction<Database>): Promise<void> {
  // LOCK IN SHARE MODE, not FOR SHARE: MariaDB 10.11 knows only the former (MySQL 8 both).
  await sql`SELECT id FROM replay_gate WHERE id = 1 LOCK IN SHARE MODE`.execute(trx)
}

/** Held until the transaction ends: no applying transaction runs meanwhile. */
export async function closeGate(trx: Transaction<Database>): Promise<void> {
  await sql`SELECT id FROM replay_gate WHERE id = 1 FOR UPDATE`.execute(trx)
}
