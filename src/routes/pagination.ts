/**
 * Cursor and limit for lists that grow. The body stays the array the UI
 * reads; the next page's cursor travels in the X-Next-Cursor header (absent
 * on the last page), opaque to clients (base64url of the last row's key).
 */
import type { FastifyReply } from 'fastify'
import { z } from 'zod'
import type { Cursor, Page } from '../db/page.js'

export const NEXT_CURSOR_HEADER = 'x-next-cursor'

const CursorSchema = z.string().max(200).transform((s, ctx): Cursor => {
  try {
    const v: unknown = JSON.parse(Buffer.from(s, 'base64url').toString('utf8'))
    if (Array.isArray(v) && typeof v[0] === 'string' && /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)?$/.test(v[0]) && Number.isSafeInteger(v[1])) {
      return { at: v[0], id: Number(v[1]) }
    }
  } catch { /* reported below */ }
  ctx.addIssue({ code: 'custom', message: 'not a cursor this API returned' })
  return z.NEVER
})

export const PageQuery = z.object({
  cursor: CursorSchema.optional().describe(`the ${NEXT_CURSOR_HEADER} header of the previous page`),
  limit: z.coerce.number().int().min(1).max(500).default(100),
})

export const encodeCursor = (c: Cursor): string => Buffer.from(JSON.stringify([c.at, c.id])).toString('base64url')

/** Sets the next-page header and answers the page's rows. */
export function sendPage<T>(reply: FastifyReply, page: Page<T>): T[] {
  if (page.next !== null) reply.header(NEXT_CURSOR_HEADER, encodeCursor(page.next))
  return page.items
}
