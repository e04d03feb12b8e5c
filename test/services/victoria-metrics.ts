/**
 * VictoriaMetrics from Debian: a real server speaking InfluxDB's `/api/v2/write`, used to prove the
 * v2 write path. It ignores org, bucket and token. `-dedup.minScrapeInterval=1ms` keeps one sample
 * per series and millisecond, so a re-sent point is stored once, as InfluxDB would overwrite it.
 */
import { fetchWithin, freePort, removeDir, spawnGroup, startOrCleanUp, stopGroup, tempDir, waitUntil, type GroupProcess } from './process.ts'

export interface ExportedSeries {
  metric: Record<string, string>
  values: number[]
  timestamps: number[]
}

export interface VictoriaMetricsService {
  url: string
  port: number
  pid(): number
  /** `/api/v1/export` for a series selector, e.g. `{__name__=~"telemetry_.*"}`. */
  exportSeries(match: string): Promise<ExportedSeries[]>
  /** Makes recent writes searchable now instead of within a couple of seconds. */
  forceFlush(): Promise<void>
  halt(): Promise<void>
  resume(): Promise<void>
  stop(): Promise<void>
}

export async function startVictoriaMetrics(): Promise<VictoriaMetricsService> {
  const dir = tempDir('victoria')
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  const args = [`-storageDataPath=${dir}`, `-httpListenAddr=127.0.0.1:${port}`, '-dedup.minScrapeInterval=1ms', '-loggerLevel=ERROR']
  const healthy = async (): Promise<boolean> => (await fetchWithin(`${url}/health`)).ok
  let proc: GroupProcess = spawnGroup('victoria-metrics', args)
  let running = true
  return startOrCleanUp(proc, dir, () => waitUntil('victoria-metrics', healthy, 20_000, proc), () => ({
    url,
    port,
    pid: () => proc.pid,
    async exportSeries(match) {
      const res = await fetchWithin(`${url}/api/v1/export?${new URLSearchParams({ 'match[]': match })}`, {}, 10_000)
      if (!res.ok) throw new Error(`export ${res.status}: ${await res.text()}`)
      const text = await res.text()
      return text.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as ExportedSeries)
    },
    async forceFlush() {
      const res = await fetchWithin(`${url}/internal/force_flush`)
      if (!res.ok) throw new Error(`force_flush ${res.status}`)
    },
    async halt() {
      if (!running) return
      running = false
      await stopGroup(proc.pid)
    },
    async resume() {
      if (running) return
      const p = spawnGroup('victoria-metrics', args)
      await waitUntil('victoria-metrics', healthy, 20_000, p)
      proc = p
      running = true
    },
    async stop() {
      if (running) await stopGroup(proc.pid)
      running = false
      removeDir(dir)
    },
  }))
}
