/**
 * PostgreSQL 15 from Debian on loopback. initdb and postgres refuse to run as root, so both run as
 * the `postgres` user on a data folder it owns; the server trusts local connections (tests only).
 */
import { execFileSync } from 'node:child_process'
import { chownSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import pg from 'pg'
import { freePort, removeDir, spawnGroup, startOrCleanUp, stopGroup, tempDir, waitUntil } from './process.ts'

const BIN = '/usr/lib/postgresql/15/bin'

export interface PostgresService {
  /** postgres://postgres@127.0.0.1:PORT/postgres */
  url: string
  port: number
  pid: number
  /** Stops the server (fast shutdown), keeping its data: clients see connections refused. */
  halt(): Promise<void>
  /** Starts it again on the same data and port, and waits until it answers. */
  resume(): Promise<void>
  stop(): Promise<void>
  /** Creates database `name` on this server; answers its URL. */
  createDatabase(name: string): Promise<string>
}

function ids(user: string): { uid: number; gid: number } {
  const uid = Number(execFileSync('id', ['-u', user], { encoding: 'utf8' }).trim())
  const gid = Number(execFileSync('id', ['-g', user], { encoding: 'utf8' }).trim())
  return { uid, gid }
}

export async function startPostgres(): Promise<PostgresService> {
  const dir = tempDir('postgres')
  const data = join(dir, 'data')
  const sockets = join(dir, 'sock')
  const { uid, gid } = ids('postgres')
  chownSync(dir, uid, gid)
  mkdirSync(sockets)
  chownSync(sockets, uid, gid)
  try {
    execFileSync('runuser', ['-u', 'postgres', '--', `${BIN}/initdb`, '-D', data, '-U', 'postgres', '-A', 'trust', '--no-sync', '-E', 'UTF8'], {
      stdio: 'pipe',
      timeout: 60_000,
    })
  } catch (err) {
    removeDir(dir)
    throw new Error(`initdb failed: ${String((err as { stderr?: Buffer }).stderr ?? err)}`)
  }
  const port = await freePort()
  const spawnServer = () => spawnGroup('runuser', ['-u', 'postgres', '--', `${BIN}/postgres`, '-D', data, '-k', sockets, '-h', '127.0.0.1', '-p', String(port), '-c', 'fsync=off'])
  let proc = spawnServer()
  let halted = false
  const ready = async (): Promise<boolean> => {
    try {
      execFileSync('pg_isready', ['-q', '-h', '127.0.0.1', '-p', String(port)], { stdio: 'ignore', timeout: 2_000 })
      return true
    } catch {
      return false
    }
  }
  return startOrCleanUp(proc, dir, () => waitUntil('postgres', ready, 20_000, proc), () => ({
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    get pid() { return proc.pid },
    async halt() {
      // SIGINT is PostgreSQL's fast shutdown; SIGTERM would wait for clients to disconnect.
      await stopGroup(proc.pid, 'SIGINT')
      halted = true
    },
    async resume() {
      if (!halted) return
      proc = spawnServer()
      halted = false
      await waitUntil('postgres (resumed)', ready, 20_000, proc)
    },
    async stop() {
      if (!halted) await stopGroup(proc.pid, 'SIGINT')
      removeDir(dir)
    },
    async createDatabase(name: string) {
      const c = new pg.Client({ connectionString: `postgres://postgres@127.0.0.1:${port}/postgres` })
      await c.connect()
      try {
        await c.query(`CREATE DATABASE ${name}`)
      } finally {
        await c.end()
      }
      return `postgres://postgres@127.0.0.1:${port}/${name}`
    },
  }))
}
