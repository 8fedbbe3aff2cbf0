/**
 * `spotfleet migrate` on a dirty legacy database (issue 8 §6) prints what it
 * repaired; `migrate verify` shows it again. Apart from cli.test.ts so each
 * file stays within tap's per-file timeout on a loaded machine.
 */
import t from 'tap'
import { runCli as run } from './helper-cli.js'
import { fixture, freshDatabase, runSqlFile } from './helper-db.js'


t.test('migrate prints what it repaired in legacy data; verify shows it again', async (t) => {
  const { url, name } = await freshDatabase(t)
  for (const f of ['legacy-base.sql', 'legacy-006.sql', 'legacy-dirty-base.sql', 'legacy-dirty-006.sql']) await runSqlFile(url, name, fixture(f))
  const env = { DATABASE_URL: `${url.replace(/\/[^/]*$/, '')}/${name}` }

  const first = await run(t, env, 'migrate')
  t.equal(first.code, 0, first.stderr)
  t.match(first.stdout, /^applied 001_base, .* in \d+ ms$/m)
  t.match(first.stdout, /^repaired legacy data \(\d+ repairs, \d+ rows; `migrate verify` lists them again\):$/m)
  t.match(first.stdout, /^MIGRATION\s+REPAIR\s+ROWS\s+WHAT$/m, 'a table of repairs')
  t.match(first.stdout, /^001\s+agents\.current_mode:ondemand\s+1\s+'ondemand' → 'on-demand'$/m)
  t.match(first.stdout, /^006\s+replica_instances\.status:extra-live\s+2\s+.*kept\): b3e1f6a2-7c4d-4a9e-9f1b-2d8c5e7a6f02 \(instance i-0rep0000000000002, kept d3000000-0000-4000-8000-000000000004\)/m,
    'the replicas ended, with their instances')

  const second = await run(t, env, 'migrate')
  t.match(second.stdout, /^schema is up to date \(\d+ ms\)$/, 'a second migrate repairs nothing')

  const verify = await run(t, env, 'migrate', 'verify')
  t.equal(verify.code, 0)
  t.match(verify.stdout, /^legacy data repaired by migrate \(\d+ repairs, \d+ rows\):$/m)
  t.match(verify.stdout, /^006\s+agents\.both_modes:manual\s+1\s/m)
  t.match(verify.stdout, /^data\s+spot_pools\.id\s+ok$/m, 'Local and Wavelength Zone pool ids are valid')
  t.match(verify.stdout.split('\n').at(-1), /^schema complete: all \d+ checks passed$/)
})
