/**
 * Issue 8 §6 from the legacy base + the hand-applied 006 + the dirty data of
 * both (test/db/legacy-dirty.ts has the checks).
 */
import { starts, testStart } from './legacy-dirty.js'

await testStart(starts[1]!)
