/**
 * 019: pricing_buckets, the price-history chart's hour and day buckets per
 * pool (count and sum of the spot and on-demand prices), kept by the
 * price-history projection beside pricing_snapshots_clean. The chart reads a
 * few thousand bucket rows by primary key instead of grouping tens of
 * thousands of 5-minute snapshots per request. Backfilled from
 * pricing_snapshots_clean (recomputed, so running it again gives the same rows).
 */
import { type Kysely, sql } from 'kysely'
import { OPTS, convergeTable, recordVersion } from '../schema-kit.js'

const PRICING_BUCKETS = `CREATE TABLE \`pricing_buckets\` (
    pool_id VARCHAR(128) NOT NULL,
    granularity ENUM('hour','day') NOT NULL,
    bucket_start DATETIME NOT NULL COMMENT 'UTC start of the hour or day',
    samples INT NOT NULL DEFAULT 0,
    spot_sum DECIMAL(20,6) NOT NULL DEFAULT 0,
    ondemand_samples INT NOT NULL DEFAULT 0,
    ondemand_sum DECIMAL(20,6) NOT NULL DEFAULT 0,
    PRIMARY KEY (pool_id, granularity, bucket_start)
  ) ${OPTS}`

const BUCKET = {
  hour: "CAST(DATE_FORMAT(observed_at, '%Y-%m-%d %H:00:00') AS DATETIME)",
  day: "CAST(DATE_FORMAT(observed_at, '%Y-%m-%d 00:00:00') AS DATETIME)",
}

export async function up(db: Kysely<any>): Promise<void> {
  await convergeTable(db, 'pricing_buckets', PRICING_BUCKETS)
  await sql`DELETE FROM pricing_buckets`.execute(db)
  for (const [granularity, bucket] of Object.entries(BUCKET)) {
    await sql`INSERT INTO pricing_buckets (pool_id, granularity, bucket_start, samples, spot_sum, ondemand_samples, ondemand_sum)
      SELECT pool_id, ${granularity}, ${sql.raw(bucket)}, COUNT(*), SUM(spot_price), COUNT(ondemand_price), COALESCE(SUM(ondemand_price), 0)
        FROM pricing_snapshots_clean GROUP BY pool_id, ${sql.raw(bucket)}`.execute(db)
  }
  await recordVersion(db, '019', 'pricing_buckets: hour and day price buckets per pool')
}
