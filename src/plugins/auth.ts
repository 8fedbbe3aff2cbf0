/**
 * Bearer authentication. The API (client, admin and notification routes)
 * takes one token with two scopes: OPERATOR_TOKEN sees every client, a
 * client's token only that client (looked up by its sha256 on every request,
 * so a rotated or deactivated token stops at once). The operator routes take
 * OPERATOR_TOKEN only. The operator token is compared in constant time; unset,
 * it opens nothing. Registered as onRequest hooks in the scopes (no
 * fastify-plugin: the hook and the decorator stay inside their scope).
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { Kysely } from 'kysely'
import { clientByToken } from '../clients/client.repository.js'
import type { Database } from '../db/database.js'
import { OPERATOR_SCOPE, type Scope, sees } from '../clients/scope.js'
import { ForbiddenError, NotFoundError, UnauthorizedError } from '../errors.js'

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the API auth hook: whose rows the token sees; null outside the API scope. */
    scope: Scope | null
  }
}

const BEARER = /^Bearer\s+(\S+)\s*$/i

export function bearerToken(request: FastifyRequest): string | undefined {
  return BEARER.exec(request.headers.authorization ?? '')?.[1]
}

// Equal-length digests, so timingSafeEqual neither throws nor leaks the length.
const digest = (s: string) => createHash('sha256').update(s).digest()

const isOperator = (token: string, expected: Buffer | undefined) => expected !== undefined && timingSafeEqual(digest(token), expected)

/** Adds the hook to `scope`: every route registered in it needs the operator token or an active client's token. */
export function apiAuth(scope: FastifyInstance, db: Kysely<Database>, operatorToken: string | undefined): void {
  const expected = operatorToken === undefined ? undefined : digest(operatorToken)
  scope.decorateRequest('scope', null)
  scope.addHook('onRequest', async (request) => {
    const token = bearerToken(request)
    if (token === undefined) throw new UnauthorizedError('a bearer token is required')
    if (isOperator(token, expected)) {
      request.scope = OPERATOR_SCOPE
      return
    }
    const client = await clientByToken(db, token)
    if (client === undefined) throw new UnauthorizedError('unknown or inactive token')
    request.scope = { kind: 'client', clientId: client.id, name: client.name }
  })
}

/** Adds the hook to `scope`: every route registered in it needs the operator token. */
export function operatorAuth(scope: FastifyInstance, operatorToken: string | undefined): void {
  const expected = operatorToken === undefined ? undefined : digest(operatorToken)
  scope.addHook('onRequest', async (request) => {
    const token = bearerToken(request)
    if (token === undefined) throw new UnauthorizedError('the operator token is required')
    if (!isOperator(token, expected)) {
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
    if (isOperator(token, expected)) return
    if (await clientByToken(db, token) === undefined) throw new UnauthorizedError('unknown or inactive token')
  })
}

/** Whose rows the request may see (API scope only). */
export function scopeOf(request: FastifyRequest): Scope {
  if (request.scope === null) throw new UnauthorizedError('a bearer token is required')
  return request.scope
}

/** The client named in a path must be visible to the token (404 otherwise, so ids do not leak across clients). */
export function sameClient(request: FastifyRequest, clientId: string): Scope {
  const scope = scopeOf(request)
  if (!sees(scope, clientId)) throw new NotFoundError(`client ${clientId} not found`)
  return scope
}

/** Client management needs the operator's token; a client's token is refused with 403. */
export function operatorOnly(request: FastifyRequest): void {
  if (scopeOf(request).kind !== 'operator') throw new ForbiddenError('client management needs the operator token; a client token sees only its own client')
}
