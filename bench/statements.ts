/**
 * Statements counted in the client, by kind: the verb and the table
 * ("insert event_log", "select agents", "begin", "commit"). Every call is one
 * round trip to the server (mysql2 interpolates parameters client-side), so
 * the total is the round trips too. performance_schema is off on a default
 * MariaDB and turning it on needs a restart; this needs nothing.
 */
export interface Digest { n: number, ms: number }

export class StatementCounter {
  private digests = new Map<string, Digest>()

  add(text: string, ms: number): void {
    const k = kindOf(text)
    const d = this.digests.get(k) ?? { n: 0, ms: 0 }
    d.n++
    d.ms += ms
    this.digests.set(k, d)
  }

  reset(): void { this.digests.clear() }

  /** Count and total time (ms, client side: network and server) per kind, most time first. */
  snapshot(): Record<string, Digest> {
    return Object.fromEntries([...this.digests].sort((a, b) => b[1].ms - a[1].ms).map(([k, d]) => [k, { n: d.n, ms: Math.round(d.ms) }]))
  }
}

export function kindOf(text: string): string {
  const s = text.trimStart().toLowerCase()
  const verb = /^\w+/.exec(s)?.[0] ?? '?'
  if (verb === 'set' || verb === 'begin' || verb === 'commit' || verb === 'rollback' || verb === 'start') {
    return verb === 'set' && s.includes('transaction') ? 'set transaction' : verb === 'start' ? 'begin' : verb
  }
  const table = /\b(?:from|into|update)\s+`?(\w+)`?/.exec(s)?.[1]
  const kind = table ? `${verb} ${table}` : verb
  // A union (the cost projection's late windows, the recent signals) apart from the plain reads of the same table.
  return /\bunion\b/.test(s) ? `${kind} (union)` : kind
}
