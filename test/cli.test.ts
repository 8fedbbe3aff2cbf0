/**
 * The command line as a user runs it: migrate (idempotent), status, verify
 * (complete report, exit 0; exit 1 on an incomplete schema), client create
 * (id and a token whose hash only is stored), and one clear line for bad
 * configuration and for each error a newcomer meets at start (spawned, as a
 * user runs it: the database refuses the connection or the login, the
 * database does not exist or was never migrated, the broker is unreachable).
 */
import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import t from 'tap'
import { runCli as run } from './helper-cli.js'
import { databaseUrl, fixture, freshDatabase, randomName, runSqlFile } from './helper-db.js'
import { ROOT, ensureBuilt, freePort } from './helper-process.js'


t.test('migrate, status, verify, client create', async (t) => {
  const { url, name, db } = await freshDatabase(t)
  const env = { DATABASE_URL: `${url.replace(/\/[^/]*$/, '')}/${name}` }

  const before = await run(t, env, 'migrate', 'verify')
  t.equal(before.code, 1, 'verify fails on an empty database')
  t.match(before.stdout, /schema incomplete/)

  const first = await run(t, env, 'migrate')
  t.equal(first.code, 0)
  t.match(first.stdout, /applied 001_base, 006_replica_management, 007_schema_completion, 008_service_tables/)
  const second = await run(t, env, 'migrate')
  t.match(second.stdout, /schema is up to date/, 'a second migrate applies nothing')

  const status = await run(t, env, 'migrate', 'status')
  t.match(status.stdout, /008_service_tables\s+\d{4}-\d\d-\d\dT/)

  const verify = await run(t, env, 'migrate', 'verify')
  t.equal(verify.code, 0)
  t.match(verify.stdout, /column\s+agents\.manual_replica_enabled\s+ok/)
  t.match(verify.stdout, /procedure\s+compute_pool_reliability\s+ok/)
  t.match(verify.stdout, /schema complete: all \d+ checks passed/)

  const created = await run(t, env, 'client', 'create', '--name', 'Acme Ünïcode')
  t.equal(created.code, 0)
  const id = /client_id: (\S+)/.exec(created.stdout)?.[1]
  const token = /token:\s+(\S+)/.exec(created.stdout)?.[1]
  t.ok(id && token, 'prints the id and the token')
  const row = await db.selectFrom('clients').selectAll().where('id', '=', id!).executeTakeFirstOrThrow()
  t.equal(row.name, 'Acme Ünïcode')
  t.equal(row.token_hash, createHash('sha256').update(token!).digest('hex'), 'only the hash is stored')
  t.equal(row.client_token, null, 'no plaintext token')
  t.notMatch(JSON.stringify(row), token!)
})

t.test('configuration errors are one line naming the variable', async (t) => {
  const missing = await run(t, { DATABASE_URL: undefined }, 'migrate')
  t.equal(missing.code, 1)
  t.match(missing.stderr, /^configuration: DATABASE_URL is not set; for local servers: scripts\/local-servers.sh start/)
  const bad = await run(t, { DATABASE_URL: 'postgres://x/y' }, 'migrate', 'status')
  t.equal(bad.code, 1)
  t.match(bad.stderr, /^configuration: DATABASE_URL must look like mysql:\/\/user:pass@host:port\/database$/)
  const usage = await run(t, {}, 'client', 'create')
  t.equal(usage.code, 2)
  t.match(usage.stderr, /usage: spotfleet client create --name NAME/)
  t.equal((await run(t, { DATABASE_URL: `mysql://root@127.0.0.1:3306/${randomName('t')}` }, 'nope')).code, 2, 'unknown command')
  const fleet = await run(t, {}, 'fleet', '--client-id', 'not-a-uuid')
  t.equal(fleet.code, 2)
  t.match(fleet.stderr, /usage: spotfleet fleet --client-id UUID/)
})

/** Runs the built `spotfleet` with exactly `env` (plus PATH), as a user would. */
function spotfleet(env: Record<string, string>, ...argv: string[]): Promise<{ code: number | null, stdout: string, stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['dist/src/bin.js', ...argv], { cwd: ROOT, env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
    child.on('exit', (code) => resolve({ code, stdout, stderr }))
  })
}

t.test('errors a newcomer meets at start are one line and a non-zero exit', async (t) => {
  ensureBuilt()
  const server = databaseUrl().replace(/\/[^/]*$/, '')
  const host = new URL(server).host
  const closed = await freePort()
  const empty = await freshDatabase(t)
  const migrated = await freshDatabase(t, { migrate: true })
  const broker = { KAFKA_BROKERS: process.env.KAFKA_BROKERS ?? '127.0.0.1:9092' }
  const cases: { what: string, env: Record<string, string>, argv: string[], line: RegExp }[] = [
    { what: 'nothing configured', env: {}, argv: ['serve'],
      line: /^configuration: DATABASE_URL is not set; for local servers: scripts\/local-servers\.sh start, then set -a; \. \.local\/servers\.env; set \+a$/ },
    { what: 'no broker configured', env: { DATABASE_URL: `${server}/${migrated.name}` }, argv: ['serve'],
      line: /^configuration: KAFKA_BROKERS is not set; for local servers: scripts\/local-servers\.sh start/ },
    { what: 'the database refuses the connection', env: { DATABASE_URL: `mysql://root@127.0.0.1:${closed}/x`, ...broker }, argv: ['serve'],
      line: new RegExp(`^database: cannot connect to 127\\.0\\.0\\.1:${closed} \\(connection refused\\); is MariaDB running\\?`) },
    { what: 'the database refuses the connection (migrate)', env: { DATABASE_URL: `mysql://root@127.0.0.1:${closed}/x` }, argv: ['migrate'],
      line: new RegExp(`^database: cannot connect to 127\\.0\\.0\\.1:${closed} `) },
    { what: 'the database refuses the login', env: { DATABASE_URL: `mysql://nobody_${randomName('u')}:wrong@${host}/x`, ...broker }, argv: ['serve'],
      line: /^database: \S+ refused the login of user 'nobody_u_[0-9a-f]+' \(with a password\); check the user and password in DATABASE_URL$/ },
    { what: 'the database does not exist', env: { DATABASE_URL: `${server}/${randomName('absent')}`, ...broker }, argv: ['serve'],
      line: /^database: `absent_[0-9a-f]+` does not exist on \S+: run spotfleet migrate \(it creates the database\)$/ },
    { what: 'the database does not exist (client create)', env: { DATABASE_URL: `${server}/${randomName('absent')}` }, argv: ['client', 'create', '--name', 'x'],
      line: /^database: `absent_[0-9a-f]+` does not exist/ },
    { what: 'the database was never migrated', env: { DATABASE_URL: `${server}/${empty.name}`, ...broker }, argv: ['serve'],
      line: new RegExp(`^database \`${empty.name}\` is not migrated \\(pending: 001_base, [^)]+\\): run spotfleet migrate$`) },
    { what: 'the broker is unreachable', env: { DATABASE_URL: `${server}/${migrated.name}`, KAFKA_BROKERS: `127.0.0.1:${closed}` }, argv: ['serve'],
      line: new RegExp(`^broker: cannot connect to 127\\.0\\.0\\.1:${closed} \\(connection refused\\); check KAFKA_BROKERS`) },
  ]
  // Side by side: each one is mostly waiting (a node start, a refused connect, a short retry).
  const results = await Promise.all(cases.map((c) => spotfleet(c.env, ...c.argv)))
  for (const [i, c] of cases.entries()) {
    const r = results[i]!
    t.not(r.code, 0, `${c.what}: non-zero exit`)
    t.equal(r.stderr.trimEnd().split('\n').length, 1, `${c.what}: one line on stderr`)
    t.match(r.stderr.trimEnd(), c.line, `${c.what}: says what failed and what to do`)
    t.equal(r.stdout, '', `${c.what}: nothing on stdout`)
  }
})
