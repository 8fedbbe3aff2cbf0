/**
 * The Fastify app on a fresh migrated database, not listening: drive it with
 * app.inject. Comes with one client and its bearer token.
 */
import Fastify, { type FastifyInstance } from 'fastify'
import type { Kysely } from 'kysely'
import type { Test } from 'tap'
import { type AppDeps, app as appPlugin } from '../src/app.js'
import { createClient } from '../src/clients/client.repository.js'
import type { Database } from '../src/db/database.js'
import type { Pipeline } from '../src/log/core.js'
import { pipeline } from '../src/wiring.js'
import { Metrics } from '../src/metrics.js'
import { freshDatabase } from './helper-db.js'

export interface TestApp {
  app: FastifyInstance
  db: Kysely<Database>
  client: { id: string, token: string }
  handlers: Pipeline
}

export const OPERATOR_TOKEN = 'operator-token-for-tests-0123456789'

export async function buildApp(t: Test, opts: Partial<Omit<AppDeps, 'db'>> = {}): Promise<TestApp & { metrics: Metrics }> {
  const { db } = await freshDatabase(t, { migrate: true })
  const handlers = opts.pipeline ?? pipeline()
  const metrics = opts.metrics ?? new Metrics()
  const app = Fastify({ logger: false })
  await app.register(appPlugin, { consumerReady: () => true, operatorToken: OPERATOR_TOKEN, checkResponses: true, ...opts, db, metrics, pipeline: handlers })
  await app.ready()
  t.teardown(() => app.close())
  const client = await createClient(db, 'test client')
  return { app, db, client, handlers, metrics }
}
