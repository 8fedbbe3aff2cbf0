/**
 * Clients and their bearer tokens. A token is shown once, at creation; only
 * its sha256 is stored, so a leaked database does not leak credentials.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto'
import type { Kysely } from 'kysely'
import type { Database } from '../db/database.js'

export const hashToken = (token: string): string => createHash('sha256').update(token).digest('hex')

export async function createClient(db: Kysely<Database>, name: string, email: string | null = null): Promise<{ id: string, token: string }> {
  const id = randomUUID()
  const token = `sf_${randomBytes(32).toString('base64url')}`
  await db.insertInto('clients').values({ id, name, email, token_hash: hashToken(token) }).execute()
  return { id, token }
}

/** The active client a token belongs to, or undefined. */
export async function clientByToken(db: Kysely<Database>, token: string): Promise<{ id: string, name: string } | undefined> {
  return db.selectFrom('clients').select(['id', 'name'])
    .where('token_hash', '=', hashToken(token)).where('is_active', '=', 1)
    .executeTakeFirst()
}
