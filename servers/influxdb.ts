/** InfluxDB 1.6 from Debian (v1 API) on loopback (SERVICES.md), data under a fresh temporary folder. */
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fetchWithin, freePort, removeDir, spawnGroup, startOrCleanUp, stopGroup, tempDir, waitUntil, type GroupProcess } from './process.ts'

export type InfluxRow = Record<string, string | number | boolean | null>

export interface InfluxDBService {
  url: string
  port: number
  database: string
  /** The current server process group (changes after `resume()`). */
  pid(): number
  /** Runs InfluxQL against `database`; rows carry the series name (`name`), its tags and columns. */
  query(influxql: string): Promise<InfluxRow[]>
  /** Stops the server but keeps its data and port, for outage tests. */
  halt(): Promise<void>
  /** Starts it again on the same port and data. */
  resume(): Promise<void>
  stop(): Promise<void>
}

interface InfluxResult {
  results?: { error?: string; series?: { name: string; tags?: Record<string, string>; columns: string[]; values: unknown[][] }[] }[]
  error?: string
}

function toRows(body: InfluxResult): InfluxRow[] {
  if (body.error) throw new Error(body.error)
  const rows: InfluxRow[] = []
  for (const r of body.results ?? []) {
    if (r.error) throw new Error(r.error)
    for (const s of r.series ?? []) {
      for (const v of s.values) {
        const row: InfluxRow = { name: s.name, ...(s.tags ?? {}) }
        s.columns.forEach((c, i) => (row[c] = v[i] as InfluxRow[string]))
        rows.push(row)
      }
    }
  }
  return rows
}

/** `auth` turns on authentication with one admin user (queries here use it). */
export async function startInfluxDB(opts: { database?: string; auth?: { username: string; password: string } } = {}): Promise<InfluxDBService> {
  const database = opts.database ?? 'forewarn'
  const dir = tempDir('influxdb')
  const port = await freePort()
  const rpcPort = await freePort()
  const url = `http://127.0.0.1:${port}`
  const configFile = join(dir, 'influxdb.conf')
  writeFileSync(
    configFile,
    [
      'reporting-disabled = true',
      `bind-address = "127.0.0.1:${rpcPort}"`,
      '[meta]',
      `  dir = "${join(dir, 'meta')}"`,
      '[data]',
      `  dir = "${join(dir, 'data')}"`,
      `  wal-dir = "${join(dir, 'wal')}"`,
      '  query-log-enabled = false',
      '[monitor]',
      '  store-enabled = false',
      '[continuous_queries]',
      '  enabled = false',
      '[http]',
      `  bind-address = "127.0.0.1:${port}"`,
      '  log-enabled = false',
      `  auth-enabled = ${opts.auth ? 'true' : 'false'}`,
      '[logging]',
      '  level = "error"',
      '',
    ].join('\n'),
  )

  async function query(q: string, db: string | null = database): Promise<InfluxRow[]> {
    const params = new URLSearchParams({ q, epoch: 'ms' })
    if (db) params.set('db', db)
    const headers: Record<string, string> = {}
    if (opts.auth) headers.authorization = `Basic ${Buffer.from(`${opts.auth.username}:${opts.auth.password}`).toString('base64')}`
    const res = await fetchWithin(`${url}/query`, { method: 'POST', body: params, headers }, 10_000)
    const body = (await res.json()) as InfluxResult
    if (!res.ok) throw new Error(`InfluxDB ${res.status}: ${body.error ?? ''}`)
    return toRows(body)
  }

  async function launch(): Promise<GroupProcess> {
    const p = spawnGroup('influxd', ['-config', configFile])
    await waitUntil('influxd', async () => (await fetchWithin(`${url}/ping`)).status === 204, 20_000, p)
    return p
  }

  const first = spawnGroup('influxd', ['-config', configFile])
  let proc: GroupProcess = first
  let running = true
  return startOrCleanUp(
    first,
    dir,
    async () => {
      await waitUntil('influxd', async () => (await fetchWithin(`${url}/ping`)).status === 204, 20_000, first)
      // With auth on, the first user may be created without credentials and must be an admin.
      if (opts.auth) await query(`CREATE USER "${opts.auth.username}" WITH PASSWORD '${opts.auth.password}' WITH ALL PRIVILEGES`, null)
      await query(`CREATE DATABASE "${database}"`, null)
    },
    () => ({
      url,
      port,
      database,
      pid: () => proc.pid,
      query: (q) => query(q),
      async halt() {
        if (!running) return
        running = false
        await stopGroup(proc.pid)
      },
      async resume() {
        if (running) return
        proc = await launch()
        running = true
      },
      async stop() {
        if (running) await stopGroup(proc.pid)
        running = false
        removeDir(dir)
      },
    }),
  )
}
