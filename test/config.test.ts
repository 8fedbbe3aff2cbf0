/**
 * The consumer timing settings and AGENT_OFFLINE_SECONDS: their defaults, and
 * one line naming the variable when a value cannot work (a heartbeat that is
 * not well under the session timeout would get the instance dropped).
 */
import t from 'tap'
import { ConfigError, loadConfig } from '../src/config.js'
import { kafkajsTiming } from '../src/ingest/consumer-settings.js'

const base = { DATABASE_URL: 'mysql://root@127.0.0.1:3306/x', KAFKA_BROKERS: '127.0.0.1:9092' }

t.test('defaults', async (t) => {
  const c = loadConfig(base)
  t.match(c, { KAFKA_SESSION_TIMEOUT_MS: 10_000, KAFKA_HEARTBEAT_INTERVAL_MS: 1_000, KAFKA_FETCH_MAX_WAIT_MS: 100, AGENT_OFFLINE_SECONDS: 120 })
  t.same(kafkajsTiming({ sessionTimeoutMs: c.KAFKA_SESSION_TIMEOUT_MS, heartbeatIntervalMs: c.KAFKA_HEARTBEAT_INTERVAL_MS, maxWaitTimeMs: c.KAFKA_FETCH_MAX_WAIT_MS }),
    { sessionTimeout: 10_000, heartbeatInterval: 1_000, maxWaitTimeInMs: 100, rebalanceTimeout: 60_000 })
})

t.test('a value that cannot work stops the start with one line naming it', async (t) => {
  t.throws(() => loadConfig({ ...base, KAFKA_SESSION_TIMEOUT_MS: '6000', KAFKA_HEARTBEAT_INTERVAL_MS: '3000' }),
    new ConfigError('configuration: KAFKA_HEARTBEAT_INTERVAL_MS must be at most a third of KAFKA_SESSION_TIMEOUT_MS'))
  t.throws(() => loadConfig({ ...base, KAFKA_FETCH_MAX_WAIT_MS: 'soon' }), /^configuration: KAFKA_FETCH_MAX_WAIT_MS /)
  t.throws(() => loadConfig({ ...base, AGENT_OFFLINE_SECONDS: '0' }), /^configuration: AGENT_OFFLINE_SECONDS /)
  t.throws(() => loadConfig({ ...base, KAFKA_BROKERS: '' }), new ConfigError('configuration: KAFKA_BROKERS is empty: list the brokers as host:port, comma-separated'))
  t.equal(kafkajsTiming({ sessionTimeoutMs: 3000, heartbeatIntervalMs: 5000 }).heartbeatInterval, 1000, 'options from code are held under a third too')
})
