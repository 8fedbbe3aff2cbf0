/**
 * Client authentication: `Authorization: Bearer <client token>` names the
 * client whose rows a request may see. Registered as an onRequest hook in the
 * API's scope (no fastify-plugin: the decorator stays inside that scope), and
 * the ownership checks every client route makes before it reads or submits.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { Kysely } from 'kysely'
import { clientByToken } from '../clients/client.repository.js'
import type { Database } from '../db/database.js'
import { NotFoundError, UnauthorizedError } from '../errors.js'

export interface AuthClient { id: string, name: string }

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the auth hook in the API scope; null elsewhere. */
    client: AuthClient | null
  }
}

const BEARER = /^Bearer\s+(\S+)\s*$/i

/** Adds the hook to `scope`: every route registered in it needs a valid client token. */
export function clientAuth(scope: FastifyInstance, db: Kysely<Database>): void {
  scope.decorateRequest('client', null)
  scope.addHook('onRequest', async (request) => {
    const token = BEARER.exec(request.headers.authorization ?? '')?.[1]
    if (token === undefined) throw new UnauthorizedError('a bearer token is required')
    const client = await clientByToken(db, token)
    if (client === undefined) throw new UnauthorizedError('unknown or inactive token')
    request.client = client
  })
}

/** The authenticated client of a request in the API scope. */
export function clientOf(request: FastifyRequest): AuthClient {
  if (request.client === null) throw new UnauthorizedError('a bearer token is required')
  return request.client
}

/**
 * The agent if it belongs to `clientId`. Another client's agent is reported
 * as missing, not forbidden, so agent ids do not leak across clients.
 */
export async function ownedAgent(db: Kysely<Database>, clientId: string, agentId: string) {
  const agent = await db.selectFrom('agents').selectAll().where('id', '=', agentId).where('client_id', '=', clientId).executeTakeFirst()
  if (agent === undefined) throw new NotFoundError(`agent ${agentId} not found`)
  return agent
}

/** The client named in a path must be the token's client (404 otherwise, as for agents). */
export function sameClient(request: FastifyRequest, clientId: string): AuthClient {
  const client = clientOf(request)
  if (client.id !== clientId) throw new NotFoundError(`client ${clientId} not found`)
  return client
}
