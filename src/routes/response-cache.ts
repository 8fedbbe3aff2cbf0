/**
 * Cached answers of the heavy UI reads (the Replicas tab, the price-history
 * chart): the serialized body kept as a Buffer per key, valid while the data
 * version of the scopes it read (src/log/read-versions.ts) is the one it was
 * built at. Every request reads that version first (one indexed statement),
 * so a commit by any `serve` instance is seen by the next request here: the
 * cache is never invalidated by this process alone. Concurrent misses of one
 * key and version build once (single flight); the ETag is the body's hash,
 * and If-None-Match with it answers 304 without a body. The body is also
 * kept gzipped (compressed once per build, on libuv's threads) for clients
 * that accept it, as browsers do: the Replicas tab of 1k agents is 505 KiB
 * of JSON and a tenth of that gzipped.
 */
import { createHash } from 'node:crypto'
import { promisify } from 'node:util'
import { constants, gzip } from 'node:zlib'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { Kysely } from 'kysely'
import type { Database } from '../db/database.js'
import { type ReadScope, readVersion } from '../log/read-versions.js'
import type { Metrics } from '../metrics.js'

interface Entry { version: string, etag: string, body: Buffer, gzipped: Buffer }

const gzipAsync = promisify(gzip)

/** Whether Accept-Encoding names gzip (or *) with a non-zero q. */
function acceptsGzip(header: string | string[] | undefined): boolean {
  const text = Array.isArray(header) ? header.join(',') : header ?? ''
  return text.split(',').some((part) => {
    const [coding, ...params] = part.trim().toLowerCase().split(';')
    if (coding !== 'gzip' && coding !== '*') return false
    const q = params.map((p) => /^\s*q=([\d.]+)\s*$/.exec(p)?.[1]).find((v) => v !== undefined)
    return q === undefined || Number(q) > 0
  })
}

export interface CachedRead {
  /** Everything the answer depends on besides the data versions (route, ids, query, time window). */
  key: string
  /** What the answer reads. */
  scopes: readonly ReadScope[]
  /** Builds the answer (the route's response schema serializes it). */
  build: () => Promise<unknown>
}

export class ResponseCache {
  private readonly entries = new Map<string, Entry>()
  private readonly flights = new Map<string, Promise<Entry>>()
  private bytes = 0

  constructor(private readonly db: Kysely<Database>, private readonly metrics: Metrics, private readonly maxBytes = 64 * 1024 * 1024) {}

  async send(request: FastifyRequest, reply: FastifyReply, read: CachedRead): Promise<FastifyReply> {
    const route = request.routeOptions.url ?? 'unmatched'
    const version = await readVersion(this.db, read.scopes)
    let entry = this.entries.get(read.key)
    if (entry?.version === version) {
      this.metrics.responseCache.inc({ route, result: 'hit' })
    } else {
      const flight = `${read.key}\u0000${version}`
      let building = this.flights.get(flight)
      this.metrics.responseCache.inc({ route, result: building === undefined ? 'miss' : 'shared' })
      if (building === undefined) {
        building = this.build(reply, read, version).finally(() => this.flights.delete(flight))
        this.flights.set(flight, building)
      }
      entry = await building
    }
    const gzipped = acceptsGzip(request.headers['accept-encoding'])
    // Each encoding is its own representation, with its own ETag.
    const etag = gzipped ? `${entry.etag.slice(0, -1)}-gzip"` : entry.etag
    // A browser keeps the body and asks again with If-None-Match every time; no shared cache keeps a token's answer.
    reply.header('vary', 'accept-encoding').header('etag', etag).header('cache-control', 'private, no-cache')
    if ((request.headers['if-none-match'] ?? '').split(',').some((tag) => tag.trim() === etag)) return reply.code(304).send()
    if (gzipped) reply.header('content-encoding', 'gzip')
    return reply.type('application/json; charset=utf-8').send(gzipped ? entry.gzipped : entry.body)
  }

  private async build(reply: FastifyReply, read: CachedRead, version: string): Promise<Entry> {
    const out = reply.serialize(await read.build())
    const body = typeof out === 'string' ? Buffer.from(out) : Buffer.isBuffer(out) ? out : Buffer.from(out)
    const gzipped = await gzipAsync(body, { level: constants.Z_BEST_SPEED })
    const entry = { version, etag: `"${createHash('sha1').update(body).digest('base64url')}"`, body, gzipped }
    this.store(read.key, entry)
    return entry
  }

  /** Newest last; the oldest go while the bodies exceed maxBytes. */
  private store(key: string, entry: Entry): void {
    const old = this.entries.get(key)
    if (old !== undefined) {
      this.bytes -= old.body.length + old.gzipped.length
      this.entries.delete(key)
    }
    this.entries.set(key, entry)
    this.bytes += entry.body.length + entry.gzipped.length
    for (const [k, e] of this.entries) {
      if (this.bytes <= this.maxBytes || k === key) break
      this.entries.delete(k)
      this.bytes -= e.body.length + e.gzipped.length
    }
  }
}
