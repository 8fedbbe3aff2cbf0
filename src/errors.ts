/**
 * Domain errors the HTTP layer maps to a status in one place (errorHandler),
 * and the zod helper that turns a failed parse into a 400 with its issues.
 * 5xx messages never reach the client: they are logged with the request.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod'
import type { z } from 'zod'
import type { RefusalCode } from './log/decisions.js'

export abstract class DomainError extends Error {
  abstract readonly code: string
  abstract readonly statusCode: number
}

export class NotFoundError extends DomainError {
  readonly code = 'not_found'
  readonly statusCode = 404
  override readonly name = 'NotFoundError'
}

export class ConflictError extends DomainError {
  readonly code: string = 'conflict'
  readonly statusCode = 409
  override readonly name: string = 'ConflictError'
}

/** The agent rules refused the command; the message is the rule's reason, `rule` its code (answered beside it). */
export class RuleRejectedError extends ConflictError {
  override readonly code = 'rule_rejected'
  override readonly name = 'RuleRejectedError'
  constructor(message: string, readonly rule: RefusalCode | null = null) { super(message) }
}

export class UnauthorizedError extends DomainError {
  readonly code = 'unauthorized'
  readonly statusCode = 401
  override readonly name = 'UnauthorizedError'
}

export class ForbiddenError extends DomainError {
  readonly code = 'forbidden'
  readonly statusCode = 403
  override readonly name = 'ForbiddenError'
}

export interface ValidationIssue { path: (string | number)[], code: string, message: string }

export class ValidationError extends Error {
  readonly code = 'validation'
  readonly statusCode = 400
  override readonly name = 'ValidationError'
  constructor(readonly issues: ValidationIssue[]) {
    super(issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; '))
  }
}

/** Parses `value` with `schema`, or throws a ValidationError whose paths start at `where` (params, body, headers). */
export function parseInput<S extends z.ZodType>(schema: S, value: unknown, where: string): z.infer<S> {
  const r = schema.safeParse(value)
  if (r.success) return r.data
  throw new ValidationError(r.error.issues.map((i) => ({
    path: [where, ...i.path.map((p) => (typeof p === 'symbol' ? String(p) : p))], code: i.code, message: i.message,
  })))
}

// The route schemas' parts, named as parseInput names them.
const PART: Record<string, string> = { body: 'body', headers: 'headers', params: 'params', querystring: 'query' }

/** A request that failed its route schema (fastify-type-provider-zod): the zod issues, paths starting at the part. */
function schemaIssues(error: unknown): ValidationIssue[] | null {
  if (!hasZodFastifySchemaValidationErrors(error)) return null
  const where = PART[error.validationContext ?? ''] ?? 'request'
  return error.validation.map((v) => ({
    path: [where, ...v.instancePath.split('/').filter(Boolean).map((p) => (/^\d+$/.test(p) ? Number(p) : p))],
    code: v.keyword, message: v.message ?? v.keyword,
  }))
}

/** The app's one error handler. */
export function errorHandler(error: FastifyError | Error, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const issues = error instanceof ValidationError ? error.issues : schemaIssues(error)
  if (issues !== null) {
    return reply.code(400).send({ error: 'validation', issues })
  }
  if (error instanceof DomainError) {
    const rule = error instanceof RuleRejectedError && error.rule !== null ? { rule: error.rule } : {}
    return reply.code(error.statusCode).send({ error: error.code, ...rule, message: error.message })
  }
  // Fastify's own client errors (malformed JSON, unsupported media type, ...) keep their status and message.
  const status = 'statusCode' in error && typeof error.statusCode === 'number' ? error.statusCode : 500
  if (status < 500) {
    return reply.code(status).send({ error: 'code' in error && typeof error.code === 'string' ? error.code : 'bad_request', message: error.message })
  }
  // A response that fails its schema is a bug of ours, a 500 like any other.
  request.log.error({ err: error, method: request.method, url: request.url, reqId: request.id }, 'request failed')
  return reply.code(status).send({ error: 'internal', message: 'Internal Server Error' })
}

/** Unknown routes answer in the same shape as every other error. */
export function notFoundHandler(request: FastifyRequest, reply: FastifyReply): FastifyReply {
  return reply.code(404).send({ error: 'not_found', message: `Route ${request.method} ${request.url.split('?')[0]} not found` })
}
