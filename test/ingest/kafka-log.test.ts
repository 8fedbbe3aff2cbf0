/**
 * The condensing of kafkajs' lines (src/ingest/kafka-log.ts), fed the lines
 * kafkajs writes during an outage (as seen from a demo whose broker was
 * killed): one warning, then silence until a connection works, then one line.
 * Other errors pass through unchanged. test/demo-broker-gone.test.ts shows it
 * on a real broker that goes away.
 */
import t from 'tap'
import { logLevel } from 'kafkajs'
import { kafkaLog } from '../../src/ingest/kafka-log.js'

const entry = (level: logLevel, message: string, extra: Record<string, unknown> = {}) =>
  ({ namespace: 'Connection', level, label: 'ERROR', log: { timestamp: new Date(0).toISOString(), logger: 'kafkajs', message, ...extra } })

t.test('an outage is one warning and one line when it ends', async (t) => {
  const lines: { level: string, extra: object, message: string }[] = []
  const at = (level: string) => (extra: object, message: string) => { lines.push({ level, extra, message }) }
  let clock = 1_000
  const k = kafkaLog({ error: at('error'), warn: at('warn'), info: at('info') }, () => clock)
  const write = k.logCreator()

  write(entry(logLevel.ERROR, 'Response Metadata(key: 3, version: 6)', { broker: 'b:1' }))
  write(entry(logLevel.INFO, 'not shown at all'))
  t.same(lines.map((l) => [l.level, l.message]), [['error', 'Response Metadata(key: 3, version: 6)']], 'an error that is not a connection error passes')

  write(entry(logLevel.ERROR, 'Connection error: connect ECONNREFUSED 127.0.0.1:9', { broker: '127.0.0.1:9', stack: 'Error: connect ECONNREFUSED' }))
  write(entry(logLevel.ERROR, 'Failed to connect to seed broker, trying another broker from the list: Connection error: connect ECONNREFUSED 127.0.0.1:9'))
  write(entry(logLevel.ERROR, 'Crash: KafkaJSNonRetriableError: Connection error: connect ECONNREFUSED 127.0.0.1:9'))
  write(entry(logLevel.ERROR, 'Restarting the consumer in 300ms'))
  t.equal(lines.length, 2, 'the outage: one line')
  t.match(lines[1], { level: 'warn', extra: { broker: '127.0.0.1:9' }, message: /^broker unreachable: Connection error: connect ECONNREFUSED/ })

  k.connected(clock - 50)
  t.equal(lines.length, 2, 'a request sent before the outage began (a fetch in flight) does not end it')
  clock += 12_400
  k.connected()
  t.match(lines[2], { level: 'info', message: 'broker reachable again after 12 s (4 kafkajs log lines while it was not)' })
  k.connected()
  t.equal(lines.length, 3, 'a connection without an outage says nothing')

  write(entry(logLevel.WARN, 'Connection timeout', { broker: 'b:1' }))
  t.equal(lines.length, 4, 'the next outage is reported again')
  t.match(lines[3], { level: 'warn', message: /^broker unreachable: Connection timeout/ })
})
