/**
 * The service's Prometheus series (prom-client), one Registry per Metrics
 * instance so that every app built in a test has its own counts. Besides the
 * default process metrics: events consumed by type, consumer lag per
 * partition, dead letters, failovers, emergency snapshots, the decision
 * latency histogram and HTTP latency (observed by plugins/metrics.ts).
 *
 * Counters and gauges keep a synchronous `get(labels)` (prom-client's own is
 * async) because the consumer's tests and the fleet stats read them directly.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'

type Labels = Record<string, string>

const key = (labels: Labels) => JSON.stringify(Object.entries(labels).sort())

class CounterSeries {
  private readonly counter: Counter
  private readonly values = new Map<string, number>()
  constructor(registry: Registry, name: string, help: string, labelNames: readonly string[] = []) {
    this.counter = new Counter({ name, help, labelNames, registers: [registry] })
  }
  inc(labels: Labels = {}, by = 1): void {
    this.counter.inc(labels, by)
    const k = key(labels)
    this.values.set(k, (this.values.get(k) ?? 0) + by)
  }
  get(labels: Labels = {}): number { return this.values.get(key(labels)) ?? 0 }
}

class GaugeSeries {
  private readonly gauge: Gauge
  private readonly values = new Map<string, { labels: Labels, value: number }>()
  constructor(registry: Registry, name: string, help: string, labelNames: readonly string[] = []) {
    this.gauge = new Gauge({ name, help, labelNames, registers: [registry] })
  }
  set(labels: Labels, value: number): void {
    this.gauge.set(labels, value)
    this.values.set(key(labels), { labels, value })
  }
  get(labels: Labels = {}): number { return this.values.get(key(labels))?.value ?? 0 }
  /** Drops every series whose labels fail `keep` (a partition this instance no longer owns). */
  keepOnly(keep: (labels: Labels) => boolean): void {
    for (const [k, { labels }] of [...this.values]) {
      if (keep(labels)) continue
      this.gauge.remove(labels)
      this.values.delete(k)
    }
  }
}

class HistogramSeries {
  private readonly histogram: Histogram
  private readonly totals = new Map<string, { count: number, sum: number }>()
  constructor(registry: Registry, name: string, help: string, labelNames: readonly string[], buckets: number[]) {
    this.histogram = new Histogram({ name, help, labelNames, buckets, registers: [registry] })
  }
  observe(labels: Labels, value: number): void {
    this.histogram.observe(labels, value)
    const k = key(labels)
    const t = this.totals.get(k)
    if (t === undefined) this.totals.set(k, { count: 1, sum: value })
    else { t.count++; t.sum += value }
  }
  count(labels: Labels = {}): number { return this.totals.get(key(labels))?.count ?? 0 }
  sum(labels: Labels = {}): number { return this.totals.get(key(labels))?.sum ?? 0 }
}

export class Metrics {
  readonly registry = new Registry()
  readonly eventsConsumed = new CounterSeries(this.registry, 'spotfleet_events_consumed_total', 'Events applied, by type', ['type'])
  readonly duplicates = new CounterSeries(this.registry, 'spotfleet_events_duplicate_total', 'Events skipped as already stored')
  readonly deadLetters = new CounterSeries(this.registry, 'spotfleet_dead_letters_total', 'Messages dead-lettered, by topic', ['topic'])
  readonly failovers = new CounterSeries(this.registry, 'spotfleet_failovers_total', 'Failovers executed')
  readonly emergencySnapshots = new CounterSeries(this.registry, 'spotfleet_emergency_snapshots_total', 'Emergency snapshots requested (termination notice without a replica)')
  readonly lag = new GaugeSeries(this.registry, 'spotfleet_consumer_lag', 'Offset lag per topic partition at the last batch', ['topic', 'partition'])
  readonly retries = new CounterSeries(this.registry, 'spotfleet_db_retries_total', 'Transient database failures retried')
  readonly batchSeconds = new CounterSeries(this.registry, 'spotfleet_batch_apply_seconds_total', 'Time spent applying batches')
  readonly batches = new CounterSeries(this.registry, 'spotfleet_batches_total', 'Batches applied')
  readonly pausedPartitions = new GaugeSeries(this.registry, 'spotfleet_ingest_paused_partitions',
    'Partitions paused now because their applier has a full queue (backpressure: fetching them waits, the urgent topics go on)')
  readonly decisionSeconds = new HistogramSeries(this.registry, 'spotfleet_decision_latency_seconds',
    'Signal occurredAt to decision commit', [], [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60])
  readonly decisions = new CounterSeries(this.registry, 'spotfleet_decisions_total', 'Decisions taken on spot signals', ['action'])
  readonly checkpointResets = new CounterSeries(this.registry, 'spotfleet_checkpoint_resets_total',
    'Partitions started again from their beginning: the stored checkpoint was ahead of the high watermark', ['topic', 'partition'])
  readonly messagesLost = new CounterSeries(this.registry, 'spotfleet_messages_lost_to_retention_total',
    'Messages retention deleted before the service saw them, by topic partition', ['topic', 'partition'])
  readonly deadLettersRefused = new CounterSeries(this.registry, 'spotfleet_dead_letters_refused_total',
    'Dead letters the broker or the producer limit refused on <topic>.dlq (marked, not retried)')
  readonly agentsOffline = new GaugeSeries(this.registry, 'spotfleet_agents_offline', 'Agents marked offline (silent for AGENT_OFFLINE_SECONDS), by client', ['client'])
  readonly outboxSent = new CounterSeries(this.registry, 'spotfleet_outbox_published_total', 'Outbox rows published')
  readonly responseCache = new CounterSeries(this.registry, 'spotfleet_response_cache_total',
    'Cached reads by route: hit (version unchanged), miss (built), shared (joined a build in flight)', ['route', 'result'])
  readonly httpSeconds = new HistogramSeries(this.registry, 'spotfleet_http_request_duration_seconds',
    'HTTP request latency by route and status', ['method', 'route', 'status'], [0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5])

  constructor() {
    collectDefaultMetrics({ register: this.registry })
  }

  /** The Prometheus text exposition of every series. */
  text(): Promise<string> { return this.registry.metrics() }
  get contentType(): string { return this.registry.contentType }
}
