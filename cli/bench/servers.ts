/**
 * The servers the bench starts on loopback for one run, from servers/: Mosquitto (the relay-rate
 * baseline) and InfluxDB 1.x when installed, or a stand-in that discards; and the CPU readings the
 * bench takes of its processes.
 */
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { startInfluxDB } from '../../servers/influxdb.ts'
import { startMosquitto as startMosquittoServer } from '../../servers/mosquitto.ts'
import { fetchWithin, freePort, spawnGroup, stopGroup, waitUntil } from '../../servers/process.ts'

export interface External {
  port: number
  pid: number
  stop(): Promise<void>
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

/**
 * Debian's Mosquitto 2.0 with the queue bounds raised, so a subscriber that falls behind for a
 * moment is not dropped (the default keeps 1,000 queued QoS 1 messages and 20 in flight; aedes
 * keeps neither limit).
 */
export async function startMosquitto(): Promise<External> {
  return startMosquittoServer({ extraConfig: ['max_inflight_messages 0', 'max_queued_messages 1000000', 'log_type error'] })
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

export interface BenchInflux extends External {
  /** Env for the sink (INFLUX_API=v1). */
  env: Record<string, string>
  /** Series written so far (0 when the sink is not wired in). */
  series(): Promise<number>
  /** Points written so far, counted by the discarding stand-in (NaN from a real InfluxDB). */
  points(): Promise<number>
}

const influxEnv = (url: string): Record<string, string> => ({ INFLUX_URL: url, INFLUX_API: 'v1', INFLUX_DATABASE: 'forewarn' })

/** InfluxDB 1.x (`influxd`) with a `forewarn` database, or a stand-in that discards. */
export async function startInflux(discard = false): Promise<BenchInflux> {
  if (discard) return startDiscard()
  const db = await startInfluxDB({ database: 'forewarn' })
  return {
    port: db.port,
    pid: db.pid(),
    stop: () => db.stop(),
    env: influxEnv(db.url),
    points: async () => Number.NaN,
    series: async () => (await db.query('SHOW SERIES').catch(() => [])).length,
  }
}

async function startDiscard(): Promise<BenchInflux> {
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  const proc = spawnGroup(process.execPath, ['-e', discardServer, String(port)])
  const stop = (): Promise<void> => stopGroup(proc.pid)
  try {
    await waitUntil('the InfluxDB stand-in', async () => (await fetchWithin(`${url}/ping`)).status === 204, 20_000, proc)
  } catch (err) {
    await stopGroup(proc.pid, 'SIGKILL', 2_000).catch(() => undefined)
    throw err
  }
  return {
    port,
    pid: proc.pid,
    stop,
    env: influxEnv(url),
    async points() {
      const res = await fetch(`${url}/bench/points`).catch(() => null)
      return res?.status === 200 ? Number(await res.text()) : Number.NaN
    },
    series: async () => 0,
  }
}
