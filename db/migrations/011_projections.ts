/**
 * 011: the incremental projections' base rows and the batch procedures
 * redefined to recompute exactly what the projections compute (issue 9).
 *
 * - cost_price_points: every accepted event that carries a price, mode or
 *   pool for an agent (registration, heartbeat, switch, failover, user
 *   promotion), with what it carried (NULL = not carried) and what was in
 *   effect from it on (the eff_* columns: carried, else inherited from the
 *   previous point). cost_records are the intervals between consecutive
 *   points, cut at UTC midnight; the key (agent_id, period_start) makes a late
 *   point an upsert of the pieces it changes.
 * - pricing_snapshots_clean.time_bucket: 5-minute buckets (was the hour; older
 *   rows are left as they are, the read queries bucket by observed_at).
 * - Procedures: compute_daily_savings(date) rebuilds that day's cost_records
 *   from cost_price_points (inheritance, intervals, midnight cuts, rounding)
 *   and the day's client_savings_daily from them plus that day's switches and
 *   signals; compute_pool_reliability_window(from, to) rebuilds the hour
 *   buckets from spot_interruption_events, pricing_snapshots_clean and
 *   cost_records cut by hour. Hours are micro-hours rounded half up from
 *   microseconds with integer arithmetic; money is ROUND(hours × price, 6).
 * - v_pool_reliability_ranking: 30-day sums (the 7-day columns stay).
 */
import type { Kysely } from 'kysely'
import { OPTS, convergeTable, recordVersion, replaceProcedure, replaceView } from '../schema-kit.js'

const MODE = `ENUM('spot','on-demand')`

const tables: Record<string, string> = {
  cost_price_points: `CREATE TABLE \`cost_price_points\` (
    agent_id CHAR(36) NOT NULL,
    at DATETIME(3) NOT NULL COMMENT 'the event time; a decision takes its cause''s time',
    event_id CHAR(36) NOT NULL,
    client_id CHAR(36) NOT NULL,
    kind ENUM('registered','heartbeat','switch','failover','promotion') NOT NULL,
    instance_id VARCHAR(64) NULL,
    pool_id VARCHAR(128) NULL COMMENT 'carried by the event; NULL = not carried',
    mode ${MODE} NULL,
    spot_price DECIMAL(12,6) NULL,
    ondemand_price DECIMAL(12,6) NULL,
    is_full TINYINT(1) GENERATED ALWAYS AS (pool_id IS NOT NULL AND mode IS NOT NULL AND spot_price IS NOT NULL AND ondemand_price IS NOT NULL) STORED,
    eff_instance_id VARCHAR(64) NULL COMMENT 'in effect from this point on',
    eff_pool_id VARCHAR(128) NULL,
    eff_mode ${MODE} NOT NULL DEFAULT 'spot',
    eff_spot_price DECIMAL(12,6) NULL,
    eff_ondemand_price DECIMAL(12,6) NULL,
    PRIMARY KEY (agent_id, at, event_id),
    KEY idx_price_points_full (agent_id, is_full, at),
    KEY idx_price_points_instance (agent_id, instance_id, at),
    KEY idx_price_points_kind_time (kind, at)
  ) ${OPTS}`,

  // savings_percentage is clamped to its column: ON DUPLICATE KEY UPDATE first evaluates it on the
  // candidate row, which holds the increments (a tiny baseline change beside a large savings one).
  client_savings_daily: `CREATE TABLE \`client_savings_daily\` (
    client_id CHAR(36) NOT NULL,
    date DATE NOT NULL,
    baseline_cost DECIMAL(16,6) NOT NULL DEFAULT 0,
    actual_cost DECIMAL(16,6) NOT NULL DEFAULT 0,
    savings DECIMAL(16,6) NOT NULL DEFAULT 0,
    savings_percentage DECIMAL(7,2) GENERATED ALWAYS AS (CASE WHEN baseline_cost > 0 THEN GREATEST(-99999.99, LEAST(99999.99, ROUND(savings / baseline_cost * 100, 2))) ELSE 0 END) STORED,
    instance_hours DECIMAL(16,6) NOT NULL DEFAULT 0,
    switch_count INT NOT NULL DEFAULT 0,
    interruption_count INT NOT NULL DEFAULT 0,
    failover_count INT NOT NULL DEFAULT 0,
    PRIMARY KEY (client_id, date),
    KEY idx_savings_date (date)
  ) ${OPTS}`,

  pricing_snapshots_clean: `CREATE TABLE \`pricing_snapshots_clean\` (
    id BIGINT NOT NULL AUTO_INCREMENT,
    event_id CHAR(36) NULL,
    pool_id VARCHAR(128) NOT NULL,
    instance_type VARCHAR(64) NOT NULL,
    region VARCHAR(32) NOT NULL,
    az VARCHAR(32) NOT NULL,
    spot_price DECIMAL(12,6) NOT NULL,
    ondemand_price DECIMAL(12,6) NULL,
    time_bucket DATETIME NOT NULL COMMENT 'observed_at truncated to 5 minutes (to the hour in rows older than 011)',
    observed_at DATETIME(3) NOT NULL,
    source_type VARCHAR(32) NOT NULL DEFAULT 'agent',
    created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    PRIMARY KEY (id),
    UNIQUE KEY uq_pricing_event (event_id),
    KEY idx_pricing_pool_time (pool_id, observed_at),
    KEY idx_pricing_type_region_time (instance_type, region, observed_at)
  ) ${OPTS}`,
}

const HOUR = (col: string) => `CAST(DATE_FORMAT(${col}, '%Y-%m-%d %H:00:00') AS DATETIME)`
/** Micro-hours between two DATETIME(3), rounded half up, in integers (1 micro-hour = 3600 µs). */
const MICRO_HOURS = (a: string, b: string) => `((TIMESTAMPDIFF(MICROSECOND, ${a}, ${b}) + 1800) DIV 3600)`
const MICRO = '0.000001'

const views: Record<string, string> = {
  v_pool_reliability_ranking: `
    SELECT pool_id,
           SUM(CASE WHEN bucket_start >= UTC_TIMESTAMP() - INTERVAL 7 DAY THEN interruption_count ELSE 0 END) AS interruptions_7d,
           SUM(CASE WHEN bucket_start >= UTC_TIMESTAMP() - INTERVAL 7 DAY THEN termination_count ELSE 0 END) AS terminations_7d,
           SUM(CASE WHEN bucket_start >= UTC_TIMESTAMP() - INTERVAL 7 DAY THEN rebalance_count ELSE 0 END) AS rebalances_7d,
           ROUND(SUM(price_sum) / NULLIF(SUM(price_samples), 0), 6) AS avg_spot_price,
           ROUND(AVG(reliability_score), 2) AS avg_reliability_score,
           SUM(CASE WHEN bucket_start >= UTC_TIMESTAMP() - INTERVAL 7 DAY THEN instance_hours_observed ELSE 0 END) AS instance_hours_7d,
           SUM(interruption_count) AS interruptions_30d,
           SUM(termination_count) AS terminations_30d,
           SUM(rebalance_count) AS rebalances_30d,
           SUM(instance_hours_observed) AS instance_hours_30d,
           SUM(instance_hours_interrupted) AS instance_hours_interrupted_30d
    FROM pool_reliability_metrics
    WHERE bucket_start >= UTC_TIMESTAMP() - INTERVAL 30 DAY
    GROUP BY pool_id`,
}

const procedures: Record<string, string> = {
  compute_daily_savings: `
CREATE PROCEDURE compute_daily_savings(IN p_date DATE)
MODIFIES SQL DATA
BEGIN
  DECLARE v_from DATETIME(3) DEFAULT CAST(p_date AS DATETIME(3));
  DECLARE v_to DATETIME(3) DEFAULT CAST(p_date AS DATETIME(3)) + INTERVAL 1 DAY;
  DELETE FROM cost_records WHERE record_date = p_date;
  INSERT INTO cost_records
    (event_id, client_id, agent_id, instance_id, pool_id, mode, period_start, period_end, record_date,
     hours, spot_price, ondemand_price, actual_cost, baseline_cost, savings)
  WITH agent_ids AS (
    SELECT DISTINCT agent_id FROM cost_price_points
  ), bounds AS (
    -- Per agent: from the last full point before the day (inheritance never reaches past one)
    -- to the first point at or after its end (which closes the day's last interval).
    SELECT a.agent_id,
           COALESCE((SELECT MAX(q.at) FROM cost_price_points q WHERE q.agent_id = a.agent_id AND q.is_full = 1 AND q.at < v_from), '1000-01-01') AS lo,
           COALESCE((SELECT MIN(q.at) FROM cost_price_points q WHERE q.agent_id = a.agent_id AND q.at >= v_to), v_to) AS hi
      FROM agent_ids a
  ), marked AS (
    SELECT p.*,
           SUM(p.instance_id IS NOT NULL) OVER w AS g_instance, SUM(p.pool_id IS NOT NULL) OVER w AS g_pool,
           SUM(p.mode IS NOT NULL) OVER w AS g_mode, SUM(p.spot_price IS NOT NULL) OVER w AS g_spot,
           SUM(p.ondemand_price IS NOT NULL) OVER w AS g_ondemand,
           LEAD(p.at) OVER w AS next_at, LEAD(p.event_id) OVER w AS next_event
      FROM bounds b JOIN cost_price_points p ON p.agent_id = b.agent_id AND p.at >= b.lo AND p.at <= b.hi
    WINDOW w AS (PARTITION BY p.agent_id ORDER BY p.at, p.event_id)
  ), resolved AS (
    -- A field not carried is the last carried value before it: the one value of its run.
    SELECT agent_id, client_id, at, next_at, next_event,
           MAX(instance_id) OVER (PARTITION BY agent_id, g_instance) AS r_instance,
           MAX(pool_id) OVER (PARTITION BY agent_id, g_pool) AS r_pool,
           COALESCE(MAX(mode) OVER (PARTITION BY agent_id, g_mode), 'spot') AS r_mode,
           MAX(spot_price) OVER (PARTITION BY agent_id, g_spot) AS r_spot,
           MAX(ondemand_price) OVER (PARTITION BY agent_id, g_ondemand) AS r_ondemand
      FROM marked
  ), pieces AS (
    SELECT agent_id, client_id, next_event, r_instance, r_pool, r_mode, r_spot, r_ondemand,
           GREATEST(at, v_from) AS piece_start, LEAST(next_at, v_to) AS piece_end,
           CASE WHEN r_mode = 'on-demand' THEN r_ondemand ELSE r_spot END AS rate
      FROM resolved
     WHERE next_at IS NOT NULL AND next_at > at AND at < v_to AND next_at > v_from
  ), hours AS (
    SELECT pieces.*, ${MICRO_HOURS('piece_start', 'piece_end')} * ${MICRO} AS h FROM pieces
     WHERE rate IS NOT NULL AND r_ondemand IS NOT NULL
  )
  SELECT next_event, client_id, agent_id, r_instance, r_pool, r_mode, piece_start, piece_end, p_date,
         h, r_spot, r_ondemand, ROUND(h * rate, 6), ROUND(h * r_ondemand, 6), ROUND(h * r_ondemand, 6) - ROUND(h * rate, 6)
    FROM hours;

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
      FROM cost_price_points WHERE kind IN ('switch','failover','promotion') AND at >= v_from AND at < v_to
    UNION ALL
    SELECT client_id, 0, 0, 0, 0, 0, 1, CASE WHEN response_action = 'failover' THEN 1 ELSE 0 END
      FROM spot_interruption_events WHERE detected_at >= v_from AND detected_at < v_to
  ) AS day_rows
  GROUP BY client_id
  -- All zero is the same as no row (the projection writes none either).
  HAVING SUM(baseline_cost) <> 0 OR SUM(actual_cost) <> 0 OR SUM(hours) <> 0 OR SUM(switches) + SUM(interruptions) + SUM(failovers) > 0;
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
                THEN ${MICRO_HOURS('detected_at', 'termination_time')} * ${MICRO} ELSE 0 END AS interrupted,
           0 AS samples, 0 AS psum, 0 AS psq, NULL AS pmin, NULL AS pmax
      FROM spot_interruption_events
     WHERE pool_id IS NOT NULL AND detected_at >= p_from AND detected_at < p_to
    UNION ALL
    SELECT pool_id, ${HOUR('observed_at')}, 0, 0, 0, 0, 1, spot_price, spot_price * spot_price, spot_price, spot_price
      FROM pricing_snapshots_clean
     WHERE observed_at >= p_from AND observed_at < p_to
    UNION ALL
    SELECT c.pool_id, h.bucket_start, 0, 0,
           ${MICRO_HOURS('GREATEST(c.period_start, h.bucket_start)', 'LEAST(c.period_end, h.bucket_start + INTERVAL 1 HOUR)')} * ${MICRO},
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
  GROUP BY pool_id, bucket_start
  -- All zero is the same as no row (the projections write none either).
  HAVING SUM(rebalances) + SUM(terminations) > 0 OR SUM(observed) <> 0 OR SUM(interrupted) <> 0 OR SUM(samples) > 0;
END`,
}

export async function up(db: Kysely<any>): Promise<void> {
  for (const [name, ddl] of Object.entries(tables)) await convergeTable(db, name, ddl)
  for (const [name, select] of Object.entries(views)) await replaceView(db, name, select)
  for (const [name, ddl] of Object.entries(procedures)) await replaceProcedure(db, name, ddl)
  await recordVersion(db, '011', 'projections: price points, 5-minute price buckets, procedures equal to the projections')
}
