/**
 * Requests per bearer token per time window (@fastify/rate-limit); requests
 * without a token count per address. Registered in the API scopes only, so
 * health checks and metrics scrapes are never limited. Over the limit: 429
 * with Retry-After.
 */
import { createHash } from 'node:crypto'
import rateLimit from '@fastify/rate-limit'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { bearerToken } from './auth.js'

export interface RateLimitOptions { max: number, timeWindowMs: number }

// The key is a hash: the limiter's store must not hold the tokens themselves.
const keyOf = (request: FastifyRequest): string => {
  const token = bearerToken(request)
  return token === undefined ? `ip:${request.ip}` : `token:${createHash('sha256').update(token).digest('base64url')}`
}

export const rateLimitPlugin = fp(async (fastify: FastifyInstance, opts: RateLimitOptions) => {
  await fastify.register(rateLimit, { max: opts.max, timeWindow: opts.timeWindowMs, keyGenerator: keyOf })
}, { name: 'rate-limit', fastify: '5.x' })
