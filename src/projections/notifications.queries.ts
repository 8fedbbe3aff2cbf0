/**
 * The bell: the newest notifications the scope sees, with whether each was
 * read. The operator also sees parked dead letters (they name no client a
 * client token could be shown). Marking read is an insert into
 * notification_reads, apart from the projection's table.
 */
import { type Kysely, sql } from 'kysely'
import type { Scope } from '../clients/scope.js'
import type { Database } from '../db/database.js'
import { isoFromDb } from '../db/time.js'

const DEAD_LETTER = 'dead-letter:'

export interface NotificationJson {
  id: string, kind: string, severity: string, message: string, time: string, isRead: boolean, clientId: string | null, agentId: string | null
}

export async function listNotifications(db: Kysely<Database>, scope: Scope, clientId: string | undefined, limit: number): Promise<NotificationJson[]> {
  const only = scope.kind === 'client' ? scope.clientId : clientId
  const [rows, letters] = await Promise.all([
    db.selectFrom('notifications as n').leftJoin('notification_reads as r', 'r.id', 'n.id')
      .select(['n.id', 'n.kind', 'n.severity', 'n.message', 'n.occurred_at', 'n.client_id', 'n.agent_id', 'r.id as read_id'])
      .$if(only !== undefined, (q) => q.where('n.client_id', '=', only ?? ''))
      .orderBy('n.occurred_at', 'desc').orderBy('n.id', 'desc').limit(limit).execute(),
    scope.kind === 'operator' && only === undefined
      ? db.selectFrom('dead_letter_events as d').leftJoin('notification_reads as r', (j) => j.on(sql<boolean>`r.id = CONCAT(${DEAD_LETTER}, d.id)`))
        .select(['d.id', 'd.topic', 'd.event_type', 'd.reason', 'd.created_at', 'r.id as read_id'])
        .where('d.resolved_at', 'is', null).orderBy('d.created_at', 'desc').orderBy('d.id', 'desc').limit(limit).execute()
      : [],
  ])
  const all: NotificationJson[] = [
    ...rows.map((r) => ({
      id: r.id, kind: r.kind, severity: r.severity, message: r.message, time: isoFromDb(r.occurred_at)!, isRead: r.read_id !== null,
      clientId: r.client_id, agentId: r.agent_id,
    })),
    ...letters.map((d) => ({
      id: `${DEAD_LETTER}${d.id}`, kind: 'dead-letter', severity: 'error',
      message: `Dead letter on ${d.topic ?? '?'}${d.event_type === null ? '' : ` (${d.event_type})`}: ${d.reason.slice(0, 300)}`,
      time: isoFromDb(d.created_at)!, isRead: d.read_id !== null, clientId: null, agentId: null,
    })),
  ]
  return all.sort((a, b) => b.time.localeCompare(a.time) || b.id.localeCompare(a.id)).slice(0, limit)
}

/** Marks one notification the scope sees as read; false if it sees none of that id. */
export async function markRead(db: Kysely<Database>, scope: Scope, id: string): Promise<boolean> {
  const visible = id.startsWith(DEAD_LETTER)
    ? scope.kind === 'operator' && /^\d+$/.test(id.slice(DEAD_LETTER.length))
      && await db.selectFrom('dead_letter_events').select('id').where('id', '=', Number(id.slice(DEAD_LETTER.length))).executeTakeFirst() !== undefined
    : await db.selectFrom('notifications').select('id').where('id', '=', id)
      .$if(scope.kind === 'client', (q) => q.where('client_id', '=', scope.kind === 'client' ? scope.clientId : '')).executeTakeFirst() !== undefined
  if (visible) await db.insertInto('notification_reads').values({ id }).onDuplicateKeyUpdate({ id: sql`id` }).execute()
  return visible
}

/** Marks every notification the scope sees (of one client, if named) as read; returns how many were unread. */
export async function markAllRead(db: Kysely<Database>, scope: Scope, clientId: string | undefined): Promise<number> {
  const unread = (await listNotifications(db, scope, clientId, 1000)).filter((n) => !n.isRead)
  if (unread.length > 0) {
    await db.insertInto('notification_reads').values(unread.map((n) => ({ id: n.id }))).onDuplicateKeyUpdate({ id: sql`id` }).execute()
  }
  return unread.length
}
