/**
 * Times between the wire (ISO 8601 with an offset) and the database
 * (DATETIME(3) in UTC; the pool reads them as strings so no local zone ever
 * shifts them).
 */

/** ISO 8601 instant -> DATETIME(3) literal in UTC. */
export function toDbTime(iso: string | Date): string {
  const d = typeof iso === 'string' ? new Date(iso) : iso
  return d.toISOString().slice(0, 23).replace('T', ' ')
}

/** DATETIME string (UTC) -> Date. */
export function fromDbTime(s: string): Date {
  return new Date(s.replace(' ', 'T') + 'Z')
}

/** DATETIME string (UTC) or NULL -> ISO 8601 or null. */
export const isoFromDb = (s: string | null): string | null => (s === null ? null : fromDbTime(s).toISOString())
