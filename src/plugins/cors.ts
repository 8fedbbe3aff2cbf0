/**
 * CORS for the UI origins of CORS_ORIGINS. A preflight from a configured
 * origin is answered (204 with the allow headers); any other origin gets no
 * CORS headers at all, and its preflight falls through to the 404 handler, so
 * the browser refuses it. No origins configured: no cross-origin access.
 */
import cors from '@fastify/cors'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { NEXT_CURSOR_HEADER } from '../routes/pagination.js'

export interface CorsOptions { origins: readonly string[] }

export const corsPlugin = fp(async (fastify: FastifyInstance, opts: CorsOptions) => {
  const allowed = new Set(opts.origins)
  await fastify.register(cors, {
    origin: (origin, cb) => { cb(null, origin !== undefined && allowed.has(origin) ? origin : false) },
    methods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'],
    // allowedHeaders left unset: the preflight's requested headers (Authorization, Idempotency-Key) are reflected.
    exposedHeaders: [NEXT_CURSOR_HEADER, 'retry-after', 'x-ratelimit-limit', 'x-ratelimit-remaining', 'x-ratelimit-reset'],
    maxAge: 600,
  })
}, { name: 'cors', fastify: '5.x' })
