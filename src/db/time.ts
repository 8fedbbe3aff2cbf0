/**
 * Times between the wire (ISO 8601 with an offset) and the database
 * (DATETIME(3) in UTC; the pool reads them as strings so no local zone ever
 * shifts them).
 */

// Days 29-31 and hour 24 take the Date path, which rolls them over as before ("02-30" is "03-02").
const CANONICAL = /^\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|1\d|2[0-8])T(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d\.\d{3}Z$/

/** ISO 8601 instant -> DATETIME(3) literal in UTC. */
export function toDbTime(iso: string | Date): string {
  // The canonical form (what Date#toISOString and the wire schemas give) needs no Date: replay converts millions.
  if (typeof iso === 'string' && CANONICAL.test(iso)) return `${iso.slice(0, 10)} ${iso.slice(11, 23)}`
  const d = typeof iso === 'string' ? new Date(iso) : iso
  return d.toISOString().slice(0, 23).replace('T', ' ')
}

/** DATETIME string (UTC) -> Date. */
export function fromDbTime(s: string): Date {
  return new Date(s.replace(' ', 'T') + 'Z')
}

const DATETIME_3 = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}$/

/** DATETIME string (UTC) or NULL -> ISO 8601 or null. A DATETIME(3) text is rewritten in place (lists of thousands of rows read it). */
export const isoFromDb = (s: string | null): string | null =>
  (s === null ? null : DATETIME_3.test(s) ? `${s.slice(0, 10)}T${s.slice(11)}Z` : fromDbTime(s).toISOString())
