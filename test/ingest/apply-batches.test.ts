/**
 * applyBatches: several partitions' messages in one transaction (what the
 * consumer's applier does with everything its fetches brought). Each
 * partition gets its own result and checkpoint; an event repeated on two
 * partitions is stored once; a registration on one topic and a notice for
 * the same agent on another are decided together; applying again skips all.
 */
import t from 'tap'
import { applyBatches, type PartitionBatch } from '../../src/log/apply-batch.js'
import { pipeline } from '../../src/wiring.js'
import { freshDatabase } from '../helper-db.js'
import { AGENT, at, registered, termination, uuid } from '../agent/fixtures/events.js'

const msg = (offset: number, e: unknown) => ({ offset: String(offset), key: null, value: Buffer.from(JSON.stringify(e)) })

t.test('three partitions of two topics in one transaction', async (t) => {
  const { db } = await freshDatabase(t, { migrate: true })
  const other = uuid(9, 3)
  const reg = registered({ at: at(0) })
  const reg2 = registered({ agentId: other, at: at(0) })
  const notice = termination({ at: at(1) })
  const batches: PartitionBatch[] = [
    { topic: 'agent-events', partition: 0, messages: [msg(0, reg), msg(1, 'not json {')] },
    { topic: 'agent-events', partition: 1, messages: [msg(5, reg2), msg(6, reg)] },
    { topic: 'spot-interruptions', partition: 2, messages: [msg(3, notice)] },
  ]
  const results = await applyBatches(db, batches, pipeline())
  t.same(results.map((r) => r.lastOffset), ['1', '6', '3'], 'each partition up to its last offset')
  t.same(results.map((r) => r.applied.map((e) => e.eventId)), [[reg.eventId], [reg2.eventId], [notice.eventId]], 'each partition its own events')
  t.same(results.map((r) => r.duplicates), [0, 1, 0], 'the registration repeated on partition 1 is a duplicate')
  t.same(results.map((r) => r.deadLettered), [1, 0, 0], 'the garbage on partition 0 dead-lettered there')
  t.ok(results[2]!.produced.some((p) => p.event.type === 'command.emergency_snapshot'), 'the notice decided with its agent registered in the same transaction')
  t.same(results[0]!.produced.filter((p) => p.event.type.startsWith('command.')), [], 'its command reported with its own partition')

  const stored = await db.selectFrom('consumer_checkpoints').select(['topic', 'partition_no', 'offset_no']).orderBy('topic').orderBy('partition_no').execute()
  t.same(stored.map((c) => [c.topic, c.partition_no, String(c.offset_no)]), [['agent-events', 0, '1'], ['agent-events', 1, '6'], ['spot-interruptions', 2, '3']], 'checkpoints advanced')
  const logged = await db.selectFrom('event_log').select('event_id').where('source', '=', 'kafka').execute()
  t.equal(logged.length, 3, 'three inputs logged once each')
  const agents = await db.selectFrom('agents').select('id').orderBy('id').execute()
  t.same(agents.map((a) => a.id).sort(), [AGENT, other].sort(), 'both agents registered')

  const again = await applyBatches(db, batches, pipeline())
  t.same(again.map((r) => r.skipped), [2, 2, 1], 'applied again: every message at or below its checkpoint')
  t.same(again.map((r) => r.applied.length), [0, 0, 0])
})
