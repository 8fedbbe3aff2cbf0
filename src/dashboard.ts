/**
 * The dashboard at `/`: static files from public/ (no build step) and uPlot
 * served from its npm package (node_modules, not a copy), both through
 * @fastify/static. The page reads the public API with the client's token, so
 * it needs nothing else from the server.
 */
import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import fastifyStatic from '@fastify/static'
import type { FastifyInstance } from 'fastify'

/** The package root, from src/ (tests) and from dist/src/ (built) alike. */
function packageRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url))
  while (!existsSync(path.join(dir, 'package.json')) && path.dirname(dir) !== dir) dir = path.dirname(dir)
  return dir
}

export const PUBLIC_DIR = path.join(packageRoot(), 'public')
const UPLOT_DIR = path.dirname(createRequire(import.meta.url).resolve('uplot'))

export async function dashboard(fastify: FastifyInstance): Promise<void> {
  await fastify.register(fastifyStatic, { root: PUBLIC_DIR, prefix: '/', index: 'index.html', wildcard: false })
  await fastify.register(fastifyStatic, {
    root: UPLOT_DIR, prefix: '/vendor/uplot/', decorateReply: false, wildcard: false,
    allowedPath: (p) => p === '/uPlot.iife.min.js' || p === '/uPlot.min.css',
  })
}
