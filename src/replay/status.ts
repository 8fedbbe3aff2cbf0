/**
 * What an operator sees of the rebuilds (GET /api/operator/replay): whether
 * a replay holds the database's replay lock right now, and the latest
 * rebuilds with their checkpoints. A rebuild still marked running while no
 * replay holds the lock was interrupted: the next `replay --from log` resumes it.
 */
import { sql, type Kysely } from 'kysely'
import { z } from 'zod'
import type { Database } from '../db/database.js'
import { isoFromDb } from '../db/time.js'
import { currentDatabase, replayLockName } from './from-log.js'

export const ReplayStatusSchema = z.object({
  running: z.boolean().describe('a replay holds the replay lock of this database now'),
  rebuilds: z.array(z.object({
    id: z.int(), source: z.string(), status: z.enum(['running', 'swapped']),
    position: z.int().describe('the highest event_log seq applied to its shadow tables'), eventsApplied: z.int(),
    startedAt: z.string().nullable(), updatedAt: z.string().nullable(), finishedAt: z.string().nullable(),
  })).describe('the latest first'),
})
export type ReplayStatus = z.infer<typeof ReplayStatusSchema>

export async function replayStatus(db: Kysely<Database>, latest = 5): Promise<ReplayStatus> {
  const lockName = replayLockName(await currentDatabase(db))
  const [lock, rebuilds] = await Promise.all([
    sql<{ holder: number | null }>`SELECT IS_USED_LOCK(${lockName}) AS holder`.execute(db),
    db.selectFrom('replay_rebuilds').select(['id', 'source', 'status', 'position', 'events_applied', 'started_at', 'updated_at', 'finished_at'])
      .orderBy('id', 'desc').limit(latest).execute(),
  ])
  return {
    running: lock.rows.some((r) => r.holder !== null),
    rebuilds: rebuilds.map((r) => ({
      id: r.id, source: r.source, status: r.status, position: Number(r.position), eventsApplied: Number(r.events_applied),
      startedAt: isoFromDb(r.started_at), updatedAt: isoFromDb(r.updated_at), finishedAt: isoFromDb(r.finished_at),
    })),
  }
}
