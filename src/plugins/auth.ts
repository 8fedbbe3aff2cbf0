/**
 * Bearer authentication for the API scopes. Client routes: the token
 * names the client whose rows a request may see (looked up by its sha256 on
 * every request, so a rotated or deactivated token stops at once). Operator
 * routes: OPERATOR_TOKEN, compared in constant time; unset means the operator
 * routes refuse everyone. Shared data (the pool ranking): either token.
 * Registered as onRequest hooks in the scopes (no
 * fastify-plugin: the hook and the decorator stay inside their scope).
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { Kysely } from 'kysely'
import { clientByToken } from '../clients/client.repository.js'
import type { Database } from '../db/database.js'
import { NotFoundError, UnauthorizedError } from '../errors.js'

export interface AuthClient { id: string, name: string }

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the client auth hook in the client API scope; null elsewhere. */
    client: AuthClient | null
  }
}

const BEARER = /^Bearer\s+(\S+)\s*$/i

export function bearerToken(request: FastifyRequest): string | undefined {
  return BEARER.exec(request.headers.authorization ?? '')?.[1]
}

/** Adds the hook to `scope`: every route registered in it needs a valid client token. */
export function clientAuth(scope: FastifyInstance, db: Kysely<Database>): void {
  scope.decorateRequest('client', null)
  scope.addHook('onRequest', async (request) => {
    const token = bearerToken(request)
    if (token === undefined) throw new UnauthorizedError('a bearer token is required')
    const client = await clientByToken(db, token)
    if (client === undefined) throw new UnauthorizedError('unknown or inactive token')
    request.client = client
  })
}

// Equal-length digests, so timingSafeEqual neither throws nor leaks the length.
const digest = (s: string) => createHash('sha256').update(s).digest()

/** Adds the hook to `scope`: every route registered in it needs the operator token. */
export function operatorAuth(scope: FastifyInstance, operatorToken: string | undefined): void {
  const expected = operatorToken === undefined ? undefined : digest(operatorToken)
  scope.addHook('onRequest', async (request) => {
    const token = bearerToken(request)
    if (token === undefined) throw new UnauthorizedError('the operator token is required')
    if (expected === undefined || !timingSafeEqual(digest(token), expected)) {
      throw new UnauthorizedError(expected === undefined ? 'operator routes are disabled: OPERATOR_TOKEN is not set' : 'wrong operator token')
    }
  })
}

/**
 * Adds the hook to `scope`: for data shared by every client (the pool
 * ranking), a valid client token or the operator token will do.
 */
export function anyTokenAuth(scope: FastifyInstance, db: Kysely<Database>, operatorToken: string | undefined): void {
  const expected = operatorToken === undefined ? undefined : digest(operatorToken)
  scope.addHook('onRequest', async (request) => {
    const token = bearerToken(request)
    if (token === undefined) throw new UnauthorizedError('a bearer token is required')
    if (expected !== undefined && timingSafeEqual(digest(token), expected)) return
    if (await clientByToken(db, token) === undefined) throw new UnauthorizedError('unknown or inactive token')
  })
}

/** The authenticated client of a request in the client API scope. */
export function clientOf(request: FastifyRequest): AuthClient {
  if (request.client === null) throw new UnauthorizedError('a bearer token is required')
  return request.client
}

/** The client named in a path must be the token's client (404 otherwise, so ids do not leak across clients). */
export function sameClient(request: FastifyRequest, clientId: string): AuthClient {
  const client = clientOf(request)
  if (client.id !== clientId) throw new NotFoundError(`client ${clientId} not found`)
  return client
}
