/**
 * Counters and gauges rendered in the Prometheus text format for GET /metrics.
 * Small on purpose: the service exports a handful of series.
 */
type Labels = Record<string, string>

const key = (labels: Labels) => JSON.stringify(Object.entries(labels).sort())
const render = (labels: Labels) => {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${v.replace(/["\\\n]/g, (c) => (c === '\n' ? '\\n' : `\\${c}`))}"`)
  return parts.length ? `{${parts.join(',')}}` : ''
}

class Series {
  private readonly values = new Map<string, { labels: Labels, value: number }>()
  constructor(readonly name: string, readonly help: string, readonly kind: 'counter' | 'gauge') {}
  inc(labels: Labels = {}, by = 1): void {
    const k = key(labels)
    const cur = this.values.get(k)
    if (cur) cur.value += by
    else this.values.set(k, { labels, value: by })
  }
  set(labels: Labels, value: number): void { this.values.set(key(labels), { labels, value }) }
  get(labels: Labels = {}): number { return this.values.get(key(labels))?.value ?? 0 }
  text(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} ${this.kind}`]
    for (const { labels, value } of this.values.values()) lines.push(`${this.name}${render(labels)} ${value}`)
    return lines.join('\n')
  }
}

export class Metrics {
  readonly eventsConsumed = new Series('spotfleet_events_consumed_total', 'Events applied, by type', 'counter')
  readonly duplicates = new Series('spotfleet_events_duplicate_total', 'Events skipped as already stored', 'counter')
  readonly deadLetters = new Series('spotfleet_dead_letters_total', 'Messages dead-lettered, by topic', 'counter')
  readonly failovers = new Series('spotfleet_failovers_total', 'Failovers executed', 'counter')
  readonly lag = new Series('spotfleet_consumer_lag', 'Offset lag per topic partition at the last batch', 'gauge')
  readonly retries = new Series('spotfleet_db_retries_total', 'Transient database failures retried', 'counter')
  readonly batchSeconds = new Series('spotfleet_batch_apply_seconds_total', 'Time spent applying batches', 'counter')
  readonly batches = new Series('spotfleet_batches_total', 'Batches applied', 'counter')
  readonly decisionSeconds = new Series('spotfleet_decision_latency_seconds_total', 'Signal occurredAt to decision commit, summed', 'counter')
  readonly decisions = new Series('spotfleet_decisions_total', 'Decisions taken on spot signals', 'counter')
  readonly checkpointResets = new Series('spotfleet_checkpoint_resets_total', 'Partitions started again from their beginning: the stored checkpoint was ahead of the high watermark', 'counter')
  readonly messagesLost = new Series('spotfleet_messages_lost_to_retention_total', 'Messages retention deleted before the service saw them, by topic partition', 'counter')
  readonly deadLettersRefused = new Series('spotfleet_dead_letters_refused_total', 'Dead letters the broker or the producer limit refused on <topic>.dlq (marked, not retried)', 'counter')
  readonly outboxSent = new Series('spotfleet_outbox_published_total', 'Outbox rows published', 'counter')

  text(): string {
    return Object.values(this).filter((s): s is Series => s instanceof Series).map((s) => s.text()).join('\n') + '\n'
  }
}
