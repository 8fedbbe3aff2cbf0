/**
 * Clients and their bearer tokens. A token is shown once, at creation; only
 * its sha256 is stored, so a leaked database does not leak credentials.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto'
import { CompiledQuery, type Kysely } from 'kysely'
import type { Database } from '../db/database.js'
import { isoFromDb } from '../db/time.js'

export const hashToken = (token: string): string => createHash('sha256').update(token).digest('hex')

export async function createClient(db: Kysely<Database>, name: string, email: string | null = null): Promise<{ id: string, token: string }> {
  const id = randomUUID()
  const token = newToken()
  await db.insertInto('clients').values({ id, name, email, token_hash: hashToken(token) }).execute()
  return { id, token }
}

/** The active client a token belongs to, or undefined. */
export async function clientByToken(db: Kysely<Database>, token: string): Promise<{ id: string, name: string } | undefined> {
  // Every API request runs this: text built here, not by the query builder (whose compile cost more than the round trip).
  const { rows } = await db.executeQuery<{ id: string, name: string }>(CompiledQuery.raw(
    'SELECT id, name FROM clients WHERE token_hash = ? AND is_active = 1 LIMIT 1', [hashToken(token)]))
  return rows[0]
}

const newToken = () => `sf_${randomBytes(32).toString('base64url')}`

/** Every client with its agent count, oldest first. */
export async function listClients(db: Kysely<Database>) {
  const rows = await db.selectFrom('clients as c').leftJoin('agents as a', 'a.client_id', 'c.id')
    .select(['c.id', 'c.name', 'c.email', 'c.is_active', 'c.created_at', (eb) => eb.fn.count<number>('a.id').as('agents')])
    .groupBy(['c.id', 'c.name', 'c.email', 'c.is_active', 'c.created_at']).orderBy('c.created_at').orderBy('c.id').execute()
  return rows.map((r) => ({ id: r.id, name: r.name, email: r.email, isActive: r.is_active === 1, agents: Number(r.agents), createdAt: isoFromDb(r.created_at) }))
}

/**
 * A new token for the client; the old one stops working with this commit
 * (auth looks the hash up on every request). Undefined for an unknown client.
 */
export async function rotateToken(db: Kysely<Database>, clientId: string): Promise<string | undefined> {
  const token = newToken()
  const r = await db.updateTable('clients').set({ token_hash: hashToken(token), client_token: null }).where('id', '=', clientId).executeTakeFirst()
  return r.numUpdatedRows > 0n ? token : undefined
}

/**
 * Deletes a client from the console: it is deactivated and its token
 * revoked (its agents, log and history stay: the log is append-only). False
 * for an unknown or already deleted client.
 */
export async function deactivateClient(db: Kysely<Database>, clientId: string): Promise<boolean> {
  const r = await db.updateTable('clients').set({ is_active: 0, token_hash: null, client_token: null })
    .where('id', '=', clientId).where('is_active', '=', 1).executeTakeFirst()
  return r.numUpdatedRows > 0n
}
