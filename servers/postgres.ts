/**
 * PostgreSQL from Debian on loopback (SERVICES.md). initdb and postgres refuse to run as root, so
 * as root both run as the `postgres` user on a folder it owns. The server trusts loopback
 * connections: a bench or test server, not a deployment.
 */
import { execFileSync } from 'node:child_process'
import { chownSync, mkdirSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import pg from 'pg'
import { ErrorCode, ForewarnError } from '../domain/index.ts'
import { executable, freePort, removeDir, spawnGroup, startOrCleanUp, stopGroup, tempDir, waitUntil, type GroupProcess } from './process.ts'

/** Where Debian puts each major version's server binaries: /usr/lib/postgresql/VERSION/bin. */
export const PG_VERSIONS_DIR = '/usr/lib/postgresql'
/** The binaries a bin folder must hold to be used. */
export const PG_REQUIRED = ['initdb', 'postgres'] as const

const hasServer = (bin: string): boolean => PG_REQUIRED.every((b) => executable(join(bin, b)))

/**
 * PostgreSQL's bin folder: FOREWARN_PG_BIN when set (it must hold initdb and postgres), else the
 * highest version under /usr/lib/postgresql/ (`versionsDir`) whose bin folder holds both.
 * Throws, naming what it looked for, when there is none.
 */
export function pgBinDir(env: NodeJS.ProcessEnv = process.env, versionsDir = PG_VERSIONS_DIR): string {
  const override = env.FOREWARN_PG_BIN?.trim()
  if (override) {
    if (hasServer(override)) return override
    throw new ForewarnError(ErrorCode.CONFIG, `FOREWARN_PG_BIN=${override} does not hold ${PG_REQUIRED.join(' and ')}`)
  }
  let versions: string[] = []
  try {
    versions = readdirSync(versionsDir)
  } catch {
    // no PostgreSQL at all: the error below says what was looked for
  }
  const found = versions
    .filter((v) => /^\d+(\.\d+)?$/.test(v) && hasServer(join(versionsDir, v, 'bin')))
    .sort((a, b) => Number(b) - Number(a))
  if (found[0] !== undefined) return join(versionsDir, found[0], 'bin')
  throw new ForewarnError(
    ErrorCode.CONFIG,
    `no PostgreSQL server found: looked for ${PG_REQUIRED.join(' and ')} in ${versionsDir}/*/bin (apt-get install postgresql, or set FOREWARN_PG_BIN to a folder holding them)`,
  )
}

export interface PostgresServer {
  /** postgres://postgres@127.0.0.1:PORT/postgres */
  url: string
  port: number
  /** The server's process group (changes after `resume()`). */
  readonly pid: number
  /** The bin folder it runs from (initdb, postgres, pg_waldump …). */
  binDir: string
  /** Its data folder. */
  dataDir: string
  /** Stops the server (fast shutdown), keeping its data: clients see connections refused. */
  halt(): Promise<void>
  /** Starts it again on the same data and port, and waits until it answers. */
  resume(): Promise<void>
  /** Stops it and removes its folder. */
  stop(): Promise<void>
  /** Creates database `name` on this server; answers its URL. */
  createDatabase(name: string): Promise<string>
}

export interface PostgresOptions {
  /** false (`-c fsync=off`) for tests; a bench keeps it on, so writes cost what they cost. */
  fsync?: boolean
}

function ids(user: string): { uid: number; gid: number } {
  const uid = Number(execFileSync('id', ['-u', user], { encoding: 'utf8' }).trim())
  const gid = Number(execFileSync('id', ['-g', user], { encoding: 'utf8' }).trim())
  return { uid, gid }
}

async function query<T>(url: string, sql: string): Promise<T[]> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2_000 })
  await c.connect()
  try {
    return (await c.query(sql)).rows as T[]
  } finally {
    await c.end()
  }
}

export async function startPostgres(opts: PostgresOptions = {}): Promise<PostgresServer> {
  const binDir = pgBinDir()
  const dir = tempDir('postgres')
  const data = join(dir, 'data')
  const sockets = join(dir, 'sock')
  mkdirSync(sockets)
  const root = typeof process.getuid === 'function' && process.getuid() === 0
  if (root) {
    const { uid, gid } = ids('postgres')
    chownSync(dir, uid, gid)
    chownSync(sockets, uid, gid)
  }
  const as = (bin: string, args: string[]): [string, string[]] =>
    root ? ['runuser', ['-u', 'postgres', '--', join(binDir, bin), ...args]] : [join(binDir, bin), args]
  try {
    const [cmd, args] = as('initdb', ['-D', data, '-U', 'postgres', '-A', 'trust', '--no-sync', '-E', 'UTF8'])
    execFileSync(cmd, args, { stdio: 'pipe', timeout: 60_000 })
  } catch (err) {
    removeDir(dir)
    throw new ForewarnError(ErrorCode.CONFIG, `initdb failed: ${String((err as { stderr?: Buffer }).stderr ?? err)}`, { cause: err })
  }
  const port = await freePort()
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`
  const serverArgs = ['-D', data, '-k', sockets, '-h', '127.0.0.1', '-p', String(port), ...(opts.fsync === false ? ['-c', 'fsync=off'] : [])]
  const spawnServer = (): GroupProcess => spawnGroup(...as('postgres', serverArgs))
  const ready = async (): Promise<boolean> => (await query(url, 'SELECT 1')).length === 1
  let proc = spawnServer()
  let halted = false
  return startOrCleanUp(proc, dir, () => waitUntil('postgres', ready, 30_000, proc), () => ({
    url,
    port,
    get pid() { return proc.pid },
    binDir,
    dataDir: data,
    async halt() {
      if (halted) return
      // SIGINT is PostgreSQL's fast shutdown; SIGTERM would wait for clients to disconnect.
      await stopGroup(proc.pid, 'SIGINT')
      halted = true
    },
    async resume() {
      if (!halted) return
      proc = spawnServer()
      halted = false
      await waitUntil('postgres (resumed)', ready, 30_000, proc)
    },
    async stop() {
      if (!halted) await stopGroup(proc.pid, 'SIGINT')
      halted = true
      removeDir(dir)
    },
    async createDatabase(name: string) {
      await query(url, `CREATE DATABASE ${name}`)
      return `postgres://postgres@127.0.0.1:${port}/${name}`
    },
  }))
}
