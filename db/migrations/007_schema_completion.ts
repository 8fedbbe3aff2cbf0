/**
 * 007: read models and their batch recomputation (the legacy migration 007,
 * corrected). Derived columns (percentages, averages, volatility, scores) are
 * stored generated columns over kept sums, so the incremental projections and
 * the procedures cannot disagree on them. All times are UTC.
 *
 * Procedures are deterministic for their arguments:
 *   compute_daily_savings(date)                      one UTC day
 *   compute_pool_reliability_window(from, to)        hour buckets in [from, to)
 *   compute_pool_reliability(hours)                  the last `hours` full hours and the current one
 */
import type { Kysely } from 'kysely'
import { OPTS, convergeTable, recordVersion, replaceProcedure, replaceView } from '../schema-kit.js'



const tables: Record<string, string> = {
  client_savings_daily: `CREATE TABLE \`client_savings_daily\` (
    client_id CHAR(36) NOT NULL,
    date DATE NOT NULL,
    baseline_cost DECIMAL(16,6) NOT NULL DEFAULT 0,
    actual_cost DECIMAL(16,6) NOT NULL DEFAULT 0,
    savings DECIMAL(16,6) NOT NULL DEFAULT 0,
    savings_percentage DECIMAL(7,2) GENERATED ALWAYS AS (CASE WHEN baseline_cost > 0 THEN ROUND(savings / baseline_cost * 100, 2) ELSE 0 END) STORED,
    instance_hours DECIMAL(16,6) NOT NULL DEFAULT 0,
    switch_count INT NOT NULL DEFAULT 0,
    interruption_count INT NOT NULL DEFAULT 0,
    failover_count INT NOT NULL DEFAULT 0,
    PRIMARY KEY (client_id, date),
    KEY idx_savings_date (date)
  ) ${OPTS}`,

  pool_reliability_metrics: `CREATE TABLE \`pool_reliability_metrics\` (
    pool_id VARCHAR(128) NOT NULL,
    bucket_start DATETIME NOT NULL COMMENT 'UTC hour',
    interruption_count INT NOT NULL DEFAULT 0,
    rebalance_count INT NOT NULL DEFAULT 0,
    termination_count INT NOT NULL DEFAULT 0,
    instance_hours_observed DECIMAL(16,6) NOT NULL DEFAULT 0,
    instance_hours_interrupted DECIMAL(16,6) NOT NULL DEFAULT 0,
    price_samples INT NOT NULL DEFAULT 0,
    price_sum DECIMAL(24,6) NOT NULL DEFAULT 0,
    price_sq_sum DECIMAL(30,12) NOT NULL DEFAULT 0,
    price_min DECIMAL(12,6) NULL,
    price_max DECIMAL(12,6) NULL,
    price_avg DECIMAL(12,6) GENERATED ALWAYS AS (CASE WHEN price_samples > 0 THEN ROUND(price_sum / price_samples, 6) END) STORED,
    price_volatility DECIMAL(12,6) GENERATED ALWAYS AS (CASE WHEN price_samples > 0 AND price_sum > 0 THEN ROUND(SQRT(GREATEST(0, price_sq_sum / price_samples - (price_sum / price_samples) * (price_sum / price_samples))) / (price_sum / price_samples), 6) END) STORED,
    reliability_score DECIMAL(6,2) GENERATED ALWAYS AS (GREATEST(0, 100 - 25 * termination_count - 10 * rebalance_count)) STORED,
    PRIMARY KEY (pool_id, bucket_start),
    KEY idx_reliability_bucket (bucket_start)
  ) ${OPTS}`,

  instance_metrics: `CREATE TABLE \`instance_metrics\` (
    id BIGINT NOT NULL AUTO_INCREMENT,
    event_id CHAR(36) NULL,
    client_id CHAR(36) NULL,
    agent_id CHAR(36) NULL,
    instance_id VARCHAR(64) NOT NULL,
    cpu DECIMAL(6,2) NULL,
    memory DECIMAL(6,2) NULL,
    network_in BIGINT NULL,
    network_out BIGINT NULL,
    disk_io BIGINT NULL,
    recorded_at DATETIME(3) NOT NULL,
    created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    PRIMARY KEY (id),
    UNIQUE KEY uq_instance_metrics_event (event_id),
    KEY idx_instance_metrics_instance_time (instance_id, recorded_at)
  ) ${OPTS}`,
}

const HOUR = (col: string) => `CAST(DATE_FORMAT(${col}, '%Y-%m-%d %H:00:00') AS DATETIME)`
const HOURS_BETWEEN = (a: string, b: string) => `ROUND(TIMESTAMPDIFF(MICROSECOND, ${a}, ${b}) / 3600000000, 6)`

const views: Record<string, string> = {
  v_active_replicas: `
    SELECT r.id AS replica_id, r.agent_id, a.client_id, a.instance_id AS primary_instance_id,
           r.instance_id AS replica_instance_id, r.replica_type, r.pool_id, r.status, r.sync_status,
           r.sync_latency_ms, r.state_transfer_progress, r.hourly_cost, r.created_at, r.ready_at
    FROM replica_instances r JOIN agents a ON a.id = r.agent_id
    WHERE r.status IN ('launching','syncing','ready')`,
  v_pool_reliability_ranking: `
    SELECT pool_id,
           SUM(interruption_count) AS interruptions_7d,
           SUM(termination_count) AS terminations_7d,
           SUM(rebalance_count) AS rebalances_7d,
           ROUND(SUM(price_sum) / NULLIF(SUM(price_samples), 0), 6) AS avg_spot_price,
           ROUND(AVG(reliability_score), 2) AS avg_reliability_score,
           SUM(instance_hours_observed) AS instance_hours_7d
    FROM pool_reliability_metrics
    WHERE bucket_start >= UTC_TIMESTAMP() - INTERVAL 7 DAY
    GROUP BY pool_id`,
}

const procedures: Record<string, string> = {
  compute_daily_savings: `
CREATE PROCEDURE compute_daily_savings(IN p_date DATE)
MODIFIES SQL DATA
BEGIN
  DELETE FROM client_savings_daily WHERE date = p_date;
  INSERT INTO client_savings_daily
    (client_id, date, baseline_cost, actual_cost, savings, instance_hours, switch_count, interruption_count, failover_count)
  SELECT client_id, p_date, SUM(baseline_cost), SUM(actual_cost), SUM(savings), SUM(hours),
         SUM(switches), SUM(interruptions), SUM(failovers)
  FROM (
    SELECT client_id, baseline_cost, actual_cost, savings, hours, 0 AS switches, 0 AS interruptions, 0 AS failovers
      FROM cost_records WHERE record_date = p_date
    UNION ALL
    SELECT client_id, 0, 0, 0, 0, 1, 0, 0
      FROM instance_switches WHERE switched_at >= p_date AND switched_at < p_date + INTERVAL 1 DAY
    UNION ALL
    SELECT client_id, 0, 0, 0, 0, 0, 1, CASE WHEN response_action = 'failover' THEN 1 ELSE 0 END
      FROM spot_interruption_events WHERE detected_at >= p_date AND detected_at < p_date + INTERVAL 1 DAY
  ) AS day_rows
  GROUP BY client_id;
END`,

  compute_pool_reliability_window: `
CREATE PROCEDURE compute_pool_reliability_window(IN p_from DATETIME, IN p_to DATETIME)
MODIFIES SQL DATA
BEGIN
  DELETE FROM pool_reliability_metrics WHERE bucket_start >= p_from AND bucket_start < p_to;
  INSERT INTO pool_reliability_metrics
    (pool_id, bucket_start, interruption_count, rebalance_count, termination_count,
     instance_hours_observed, instance_hours_interrupted, price_samples, price_sum, price_sq_sum, price_min, price_max)
  SELECT pool_id, bucket_start, SUM(rebalances) + SUM(terminations), SUM(rebalances), SUM(terminations),
         SUM(observed), SUM(interrupted), SUM(samples), SUM(psum), SUM(psq), MIN(pmin), MAX(pmax)
  FROM (
    SELECT pool_id, ${HOUR('detected_at')} AS bucket_start,
           signal_type = 'rebalance-recommendation' AS rebalances, signal_type = 'termination-notice' AS terminations,
           0 AS observed,
           CASE WHEN signal_type = 'termination-notice' AND termination_time > detected_at
                THEN ${HOURS_BETWEEN('detected_at', 'termination_time')} ELSE 0 END AS interrupted,
           0 AS samples, 0 AS psum, 0 AS psq, NULL AS pmin, NULL AS pmax
      FROM spot_interruption_events
     WHERE pool_id IS NOT NULL AND detected_at >= p_from AND detected_at < p_to
    UNION ALL
    SELECT pool_id, time_bucket, 0, 0, 0, 0, 1, spot_price, spot_price * spot_price, spot_price, spot_price
      FROM pricing_snapshots_clean
     WHERE time_bucket >= p_from AND time_bucket < p_to
    UNION ALL
    SELECT c.pool_id, h.bucket_start, 0, 0,
           ${HOURS_BETWEEN('GREATEST(c.period_start, h.bucket_start)', 'LEAST(c.period_end, h.bucket_start + INTERVAL 1 HOUR)')},
           0, 0, 0, 0, NULL, NULL
      FROM cost_records c
      JOIN (
        WITH RECURSIVE hours (bucket_start) AS (
          SELECT ${HOUR('p_from')} UNION ALL
          SELECT bucket_start + INTERVAL 1 HOUR FROM hours WHERE bucket_start + INTERVAL 1 HOUR < p_to
        ) SELECT bucket_start FROM hours
      ) AS h ON c.period_start < h.bucket_start + INTERVAL 1 HOUR AND c.period_end > h.bucket_start
     WHERE c.pool_id IS NOT NULL AND c.period_start < p_to AND c.period_end > p_from
       AND h.bucket_start >= p_from
  ) AS bucket_rows
  GROUP BY pool_id, bucket_start;
END`,

  compute_pool_reliability: `
CREATE PROCEDURE compute_pool_reliability(IN p_hours INT)
MODIFIES SQL DATA
BEGIN
  DECLARE v_to DATETIME DEFAULT ${HOUR('UTC_TIMESTAMP()')} + INTERVAL 1 HOUR;
  CALL compute_pool_reliability_window(v_to - INTERVAL (p_hours + 1) HOUR, v_to);
END`,
}

export async function up(db: Kysely<any>): Promise<void> {
  for (const [name, ddl] of Object.entries(tables)) await convergeTable(db, name, ddl)
  for (const [name, select] of Object.entries(views)) await replaceView(db, name, select)
  for (const [name, ddl] of Object.entries(procedures)) await replaceProcedure(db, name, ddl)
  await recordVersion(db, '007', 'schema completion: savings, reliability, metrics, views, procedures')
}
