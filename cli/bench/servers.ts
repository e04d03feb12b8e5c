/**
 * External servers the bench starts on loopback for one run: Mosquitto (the relay-rate baseline)
 * and InfluxDB 1.x when installed. Each runs in its own process group with its files in a
 * temporary folder, and is stopped (the whole group) by the bench.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { connect, createServer } from 'node:net'
import { join } from 'node:path'
import { ErrorCode, ForewarnError } from '../../domain/index.ts'

export interface External {
  port: number
  pid: number
  stop(): Promise<void>
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const a = s.address()
      const port = typeof a === 'object' && a !== null ? a.port : 0
      s.close(() => resolve(port))
    })
  })
}

const clockTicks = Number(spawnSync('getconf', ['CLK_TCK']).stdout?.toString().trim()) || 100

/** CPU seconds (user + system) a process has used so far, from /proc; NaN when it is gone. */
export function cpuSeconds(pid: number): number {
  return cpuSecondsOfStat(`/proc/${pid}/stat`)
}

/** utime + stime of a /proc/…/stat file (a process or one of its threads), in seconds. */
export function cpuSecondsOfStat(path: string): number {
  try {
    const stat = readFileSync(path, 'utf8')
    // Fields after the command name (which may hold spaces): utime and stime are fields 14 and 15.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(f[11]) + Number(f[12])) / clockTicks
  } catch {
    return Number.NaN
  }
}

export function installed(binary: string): boolean {
  return spawnSync('/bin/sh', ['-c', `command -v ${binary}`]).status === 0
}

async function until(what: string, ok: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await ok()) return
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new ForewarnError(ErrorCode.CONFIG, `${what} did not become ready within ${timeoutMs} ms`)
}

const tcpOpen = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port }, () => { s.destroy(); resolve(true) })
    s.on('error', () => resolve(false))
  })

function group(cp: ChildProcess): () => Promise<void> {
  const exited = new Promise<void>((resolve) => cp.once('exit', () => resolve()))
  return async () => {
    if (cp.exitCode !== null || cp.signalCode !== null || cp.pid === undefined) return
    try { process.kill(-cp.pid, 'SIGTERM') } catch { return }
    const timer = setTimeout(() => { try { process.kill(-(cp.pid as number), 'SIGKILL') } catch { /* gone */ } }, 5000)
    await exited
    clearTimeout(timer)
  }
}

/**
 * Debian's Mosquitto 2.0 with the queue bounds raised, so a subscriber that falls behind for a
 * moment is not dropped (the default keeps 1,000 queued QoS 1 messages and 20 in flight; aedes
 * keeps neither limit).
 */
export async function startMosquitto(dir: string): Promise<External> {
  mkdirSync(dir, { recursive: true })
  const port = await freePort()
  const conf = join(dir, 'mosquitto.conf')
  writeFileSync(conf, [
    `listener ${port} 127.0.0.1`, 'allow_anonymous true', 'persistence false', 'user root',
    'max_inflight_messages 0', 'max_queued_messages 1000000', 'log_dest stderr', 'log_type error', '',
  ].join('\n'))
  const cp = spawn('mosquitto', ['-c', conf], { detached: true, stdio: ['ignore', 'ignore', 'inherit'] })
  const stop = group(cp)
  try {
    await until('mosquitto', () => tcpOpen(port), 10_000)
  } catch (err) {
    await stop()
    throw err
  }
  return { port, pid: cp.pid ?? -1, stop }
}

/**
 * Answers the InfluxDB 1.x API at once and stores nothing (`FOREWARN_BENCH_INFLUX=discard`, and
 * `bench --cluster`); it counts the line-protocol points written, answered on `/bench/points`.
 */
const discardServer = `
const { createServer } = require('node:http')
let points = 0
createServer((req, res) => {
  const write = req.url.startsWith('/write')
  let last = 10
  req.on('data', (b) => {
    if (!write || b.length === 0) return
    for (let i = b.indexOf(10); i !== -1; i = b.indexOf(10, i + 1)) points++
    last = b[b.length - 1]
  })
  req.on('end', () => {
    // Lines are joined by newlines, the last one may have none.
    if (last !== 10) points++
    if (req.url.startsWith('/bench/points')) return res.writeHead(200).end(String(points))
    if (req.url.startsWith('/ping') || write) return res.writeHead(204).end()
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"results":[{"statement_id":0,"series":[{"name":"databases","columns":["name"],"values":[["forewarn"]]}]}]}')
  })
}).listen(Number(process.argv[1]), '127.0.0.1')`

/** InfluxDB 1.x (`influxd`) with a `forewarn` database, or a stand-in that discards; env for the sink (INFLUX_API=v1). */
export async function startInflux(dir: string, discard = false): Promise<External & { env: Record<string, string>; series(): Promise<number>; points(): Promise<number> }> {
  mkdirSync(dir, { recursive: true })
  const [port, rpc] = [await freePort(), await freePort()]
  const conf = join(dir, 'influxdb.conf')
  writeFileSync(conf, [
    'reporting-disabled = true', `bind-address = "127.0.0.1:${rpc}"`,
    '[meta]', `  dir = "${join(dir, 'meta')}"`,
    '[data]', `  dir = "${join(dir, 'data')}"`, `  wal-dir = "${join(dir, 'wal')}"`, '  query-log-enabled = false',
    '[http]', `  bind-address = "127.0.0.1:${port}"`, '  log-enabled = false',
    '[logging]', '  level = "error"', '',
  ].join('\n'))
  const cp = discard
    ? spawn(process.execPath, ['-e', discardServer, String(port)], { detached: true, stdio: ['ignore', 'ignore', 'ignore'] })
    : spawn('influxd', ['-config', conf], { detached: true, stdio: ['ignore', 'ignore', 'ignore'] })
  const stop = group(cp)
  const url = `http://127.0.0.1:${port}`
  try {
    await until('influxd', async () => (await fetch(`${url}/ping`).catch(() => null))?.status === 204, 20_000)
    await fetch(`${url}/query`, { method: 'POST', body: new URLSearchParams({ q: 'CREATE DATABASE forewarn' }) })
  } catch (err) {
    await stop()
    throw err
  }
  return {
    port,
    pid: cp.pid ?? -1,
    stop,
    env: { INFLUX_URL: url, INFLUX_API: 'v1', INFLUX_DATABASE: 'forewarn' },
    /** Points written so far, counted by the discarding stand-in (NaN from a real InfluxDB). */
    async points() {
      const res = await fetch(`${url}/bench/points`).catch(() => null)
      return discard && res?.status === 200 ? Number(await res.text()) : Number.NaN
    },
    /** Series written so far (0 when the sink is not wired in). */
    async series() {
      const q = new URLSearchParams({ db: 'forewarn', q: 'SHOW SERIES' })
      const res = await fetch(`${url}/query?${q}`).catch(() => null)
      if (!res || res.status !== 200) return 0
      const body = (await res.json()) as { results?: { series?: { values?: unknown[] }[] }[] }
      return body.results?.[0]?.series?.[0]?.values?.length ?? 0
    },
  }
}
