/**
 * What an operator sees of the rebuilds (GET /api/operator/replay): whether
 * a replay holds the database's replay lock right now, and the latest
 * rebuilds with their checkpoints. A rebuild still marked running while no
 * replay holds the lock was interrupted: the next `replay --from log` resumes it.
 */
import { createHash } from 'node:crypto'
import { sql, type Kysely } from 'kysely'
import type { Database } from '../db/database.js'
import { isoFromDb } from '../db/time.js'

/** The GET_LOCK name a replay of `database` holds for its whole run (one at a time per database). */
export function replayLockName(database: string): string {
  return `spotfleet-replay-${createHash('sha1').update(database).digest('hex').slice(0, 32)}`
}

export interface RebuildStatus {
  id: number
  source: string
  status: 'running' | 'swapped'
  /** The highest event_log seq applied to its shadow tables. */
  position: number
  eventsApplied: number
  startedAt: string | null
  updatedAt: string | null
  finishedAt: string | null
}

export async function replayStatus(db: Kysely<Database>, latest = 5): Promise<{ running: boolean, rebuilds: RebuildStatus[] }> {
  const { rows: [database] } = await sql<{ d: string }>`SELECT DATABASE() AS d`.execute(db)
  const [{ rows: [lock] }, rebuilds] = await Promise.all([
    sql<{ holder: number | null }>`SELECT IS_USED_LOCK(${replayLockName(database!.d)}) AS holder`.execute(db),
    db.selectFrom('replay_rebuilds').select(['id', 'source', 'status', 'position', 'events_applied', 'started_at', 'updated_at', 'finished_at'])
      .orderBy('id', 'desc').limit(latest).execute(),
  ])
  return {
    running: lock?.holder !== null && lock?.holder !== undefined,
    rebuilds: rebuilds.map((r) => ({
      id: r.id, source: r.source, status: r.status, position: Number(r.position), eventsApplied: Number(r.events_applied),
      startedAt: isoFromDb(r.started_at), updatedAt: isoFromDb(r.updated_at), finishedAt: isoFromDb(r.finished_at),
    })),
  }
}
