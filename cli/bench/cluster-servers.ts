/**
 * The servers `forewarn bench --cluster` starts on loopback for one run (SERVICES.md): a
 * three-node NATS cluster with JetStream and PostgreSQL 15, each in its own process group with
 * its files under the bench's temporary folder, stopped (the whole group) when the bench ends.
 * The same approach as the test services, in product code (nothing imports test/).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { chownSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { connect } from '@nats-io/transport-node'
import { jetstreamManager } from '@nats-io/jetstream'
import { ErrorCode, ForewarnError } from '../../domain/index.ts'
import { cpuSecondsOfStat, freePort } from './servers.ts'

export const NATS_SERVER = '/usr/sbin/nats-server'
export const PG_BIN = '/usr/lib/postgresql/15/bin'

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

async function until(what: string, ok: () => Promise<boolean>, timeoutMs: number, cp?: ChildProcess): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (cp && (cp.exitCode !== null || cp.signalCode !== null)) throw new ForewarnError(ErrorCode.CONFIG, `${what} exited before it was ready`)
    if (await ok().catch(() => false)) return
    await sleep(100)
  }
  throw new ForewarnError(ErrorCode.CONFIG, `${what} did not become ready within ${timeoutMs} ms`)
}

/** Pids of the live processes in a process group (PostgreSQL forks a backend per connection). */
export function groupPids(pgid: number): number[] {
  const out: number[] = []
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8')
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      if (Number(rest[2]) === pgid && rest[0] !== 'Z') out.push(Number(name))
    } catch {
      // gone meanwhile
    }
  }
  return out
}

/** CPU seconds of a process group's live members: a backend that exited in between is not counted. */
export function groupCpuSeconds(pgid: number): number {
  return groupPids(pgid).reduce((s, pid) => s + (cpuSecondsOfStat(`/proc/${pid}/stat`) || 0), 0)
}

function stopGroup(cp: ChildProcess, signal: NodeJS.Signals): () => Promise<void> {
  const exited = new Promise<void>((resolve) => cp.once('exit', () => resolve()))
  return async () => {
    const pid = cp.pid
    if (pid === undefined) return
    try { process.kill(-pid, signal) } catch { return }
    const timer = setTimeout(() => { try { process.kill(-pid, 'SIGKILL') } catch { /* gone */ } }, 5000)
    if (cp.exitCode === null && cp.signalCode === null) await exited
    // The group may outlive its leader for a moment (PostgreSQL's backends).
    const deadline = Date.now() + 5000
    while (groupPids(pid).length > 0 && Date.now() < deadline) await sleep(50)
    clearTimeout(timer)
  }
}

export interface NatsCluster {
  /** Client URLs, what `--cluster` takes. */
  urls: string[]
  /** nats-server's pids, one per node (each node is its own process). */
  pids: number[]
  /** Deletes every stream (the readings, the registry, the KV buckets): a fresh cluster for the next configuration. */
  reset(): Promise<void>
  stop(): Promise<void>
}

interface Jsz { meta_cluster?: { leader?: string } }

/** `size` nats-server nodes with JetStream, clustered on loopback; ready when each sees a meta leader. */
export async function startNatsCluster(dir: string, size = 3): Promise<NatsCluster> {
  const ports = []
  for (let i = 0; i < size; i++) ports.push({ client: await freePort(), monitor: await freePort(), route: await freePort() })
  const procs: ChildProcess[] = []
  const stops: (() => Promise<void>)[] = []
  const stopAll = async (): Promise<void> => { for (const s of stops) await s() }
  try {
    for (let i = 0; i < size; i++) {
      const p = ports[i] as (typeof ports)[number]
      const store = join(dir, `n${i}`)
      mkdirSync(store, { recursive: true })
      const routes = ports.filter((_, j) => j !== i).map((o) => `nats-route://127.0.0.1:${o.route}`)
      const file = join(dir, `n${i}.conf`)
      writeFileSync(file, [
        `server_name: n${i}`, 'host: 127.0.0.1', `port: ${p.client}`, `http_port: ${p.monitor}`,
        `jetstream { store_dir: "${store}" }`,
        `cluster { name: fw, host: 127.0.0.1, port: ${p.route}, routes: [${routes.join(', ')}] }`, '',
      ].join('\n'))
      const cp = spawn(NATS_SERVER, ['-c', file], { detached: true, stdio: ['ignore', 'ignore', 'ignore'] })
      procs.push(cp)
      stops.push(stopGroup(cp, 'SIGTERM'))
    }
    for (let i = 0; i < size; i++) {
      const monitor = (ports[i] as (typeof ports)[number]).monitor
      await until(`nats-server n${i}`, async () => {
        const res = await fetch(`http://127.0.0.1:${monitor}/jsz`, { signal: AbortSignal.timeout(2000) })
        const body = (await res.json()) as Jsz
        return typeof body.meta_cluster?.leader === 'string' && body.meta_cluster.leader !== ''
      }, 30_000, procs[i])
    }
  } catch (err) {
    await stopAll()
    throw err
  }
  const urls = ports.map((p) => `nats://127.0.0.1:${p.client}`)
  return {
    urls,
    pids: procs.map((p) => p.pid ?? -1),
    async reset() {
      const nc = await connect({ servers: urls, name: 'forewarn bench' })
      try {
        const jsm = await jetstreamManager(nc)
        const names: string[] = []
        for await (const s of jsm.streams.list()) names.push(s.config.name)
        for (const name of names) await jsm.streams.delete(name)
      } finally {
        await nc.close()
      }
    },
    stop: stopAll,
  }
}

export interface Postgres {
  pid: number
  /** A fresh database on this server; answers its URL. */
  createDatabase(name: string): Promise<string>
  /** The WAL position flushed so far (pg_current_wal_flush_lsn). */
  walPosition(): Promise<string>
  /**
   * Write transactions (WAL commit records) and row writes (heap insert, update, delete records)
   * between two WAL positions, from `pg_waldump --stats=record`: exact and immediate, where
   * pg_stat_database lags by up to 10 s for a backend that goes idle.
   */
  walWrites(from: string, to: string): { commits: number; rows: number }
  /** CPU seconds of the server and its backends (the process group). */
  cpuSeconds(): number
  stop(): Promise<void>
}

function ids(user: string): { uid: number; gid: number } {
  return {
    uid: Number(execFileSync('id', ['-u', user], { encoding: 'utf8' }).trim()),
    gid: Number(execFileSync('id', ['-g', user], { encoding: 'utf8' }).trim()),
  }
}

/**
 * PostgreSQL 15 from Debian. initdb and postgres refuse to run as root, so both run as the
 * `postgres` user on a folder it owns; loopback trust authentication (a bench, not a deployment).
 * fsync stays on: the records store's writes cost what they cost on a real server.
 */
export async function startPostgres(): Promise<Postgres> {
  // A folder of its own under the system's temporary folder: the `postgres` user must reach it,
  // and the bench's own temporary folder is private to root.
  const dir = mkdtempSync(join(tmpdir(), 'forewarn-bench-postgres-'))
  try {
    return await startPostgresIn(dir)
  } catch (err) {
    rmSync(dir, { recursive: true, force: true })
    throw err
  }
}

async function startPostgresIn(dir: string): Promise<Postgres> {
  const data = join(dir, 'data')
  const sockets = join(dir, 'sock')
  mkdirSync(sockets)
  const root = getuidOrNull() === 0
  if (root) {
    const { uid, gid } = ids('postgres')
    chownSync(dir, uid, gid)
    chownSync(sockets, uid, gid)
  }
  const as = (bin: string, args: string[]): [string, string[]] => (root ? ['runuser', ['-u', 'postgres', '--', bin, ...args]] : [bin, args])
  const [initCmd, initArgs] = as(`${PG_BIN}/initdb`, ['-D', data, '-U', 'postgres', '-A', 'trust', '--no-sync', '-E', 'UTF8'])
  try {
    execFileSync(initCmd, initArgs, { stdio: 'pipe', timeout: 60_000 })
  } catch (err) {
    throw new ForewarnError(ErrorCode.CONFIG, `initdb failed: ${String((err as { stderr?: Buffer }).stderr ?? err)}`)
  }
  const port = await freePort()
  const [cmd, args] = as(`${PG_BIN}/postgres`, ['-D', data, '-k', sockets, '-h', '127.0.0.1', '-p', String(port)])
  const cp = spawn(cmd, args, { detached: true, stdio: ['ignore', 'ignore', 'ignore'] })
  // SIGINT is PostgreSQL's fast shutdown; SIGTERM would wait for clients to disconnect.
  const halt = stopGroup(cp, 'SIGINT')
  const stop = async (): Promise<void> => {
    await halt()
    rmSync(dir, { recursive: true, force: true })
  }
  const admin = `postgres://postgres@127.0.0.1:${port}/postgres`
  const query = async <T>(url: string, sql: string): Promise<T[]> => {
    const c = new pg.Client({ connectionString: url })
    await c.connect()
    try {
      return (await c.query(sql)).rows as T[]
    } finally {
      await c.end()
    }
  }
  try {
    await until('postgres', async () => (await query(admin, 'SELECT 1')).length === 1, 30_000, cp)
  } catch (err) {
    await stop()
    throw err
  }
  const pgid = cp.pid ?? -1
  return {
    pid: pgid,
    async createDatabase(name) {
      await query(admin, `CREATE DATABASE ${name}`)
      return `postgres://postgres@127.0.0.1:${port}/${name}`
    },
    async walPosition() {
      const [r] = await query<{ lsn: string }>(admin, 'SELECT pg_current_wal_flush_lsn()::text AS lsn')
      return r?.lsn ?? '0/0'
    },
    walWrites(from, to) {
      if (from === to) return { commits: 0, rows: 0 }
      const out = execFileSync(`${PG_BIN}/pg_waldump`, ['--stats=record', '-p', join(data, 'pg_wal'), '-s', from, '-e', to], { encoding: 'utf8', timeout: 60_000, stdio: ['ignore', 'pipe', 'pipe'] })
      return walCounts(out)
    },
    cpuSeconds: () => groupCpuSeconds(pgid),
    stop,
  }
}

function getuidOrNull(): number | null {
  return typeof process.getuid === 'function' ? process.getuid() : null
}

/** One record per row written; a multi-row insert (Heap2/MULTI_INSERT) is one record for its rows. */
const ROW_RECORDS = new Set([
  'Heap/INSERT', 'Heap/INSERT+INIT', 'Heap/UPDATE', 'Heap/UPDATE+INIT', 'Heap/HOT_UPDATE', 'Heap/HOT_UPDATE+INIT', 'Heap/DELETE',
  'Heap2/MULTI_INSERT', 'Heap2/MULTI_INSERT+INIT',
])

/** Counts of `pg_waldump --stats=record`: commit records, and heap row-write records. */
export function walCounts(stats: string): { commits: number; rows: number } {
  let commits = 0
  let rows = 0
  for (const line of stats.split('\n')) {
    const m = /^(\S+)\s+(\d+)\s+\(/.exec(line)
    if (!m) continue
    const [, type, n] = m as unknown as [string, string, string]
    if (type === 'Transaction/COMMIT') commits += Number(n)
    else if (ROW_RECORDS.has(type)) rows += Number(n)
  }
  return { commits, rows }
}
