import { spawnSync } from 'node:child_process'
import { describe, expect, it } from 'vitest'
import { summariseCluster, topologies, usPerReading, type ClusterRun } from '../../cli/bench/cluster.ts'
import { walCounts } from '../../cli/bench/cluster-probes.ts'
import { startInflux } from '../../cli/bench/servers.ts'
import { renderTable } from '../../cli/bench/table.ts'
import { describeService } from '../services/availability.ts'

function run(topology: string, workers: number, processedPerSec: number): ClusterRun {
  return {
    topology, workers, processedPerSec, acceptedPerSec: processedPerSec, backlogGrowth: 0,
    cpuPct: { edge: 50, workers: workers > 0 ? 40 : 0, nats: workers > 0 ? 30 : 0, natsBusiest: workers > 0 ? 15 : 0, postgres: 5, load: 10, influx: 1 },
    postgres: { commitsPerSec: 10, rowsPerSec: 40 },
    influxPointsPerSec: processedPerSec,
    latency: { ratePerSec: processedPerSec / 2, toStored: { p50: 2, p99: 9, samples: 100 }, toWarning: { p50: 5, p99: 20, samples: 10, missing: 0 } },
  }
}

describe('bench --cluster summary', () => {
  it('divides each cluster rate by the single-process rate of the same run, and CPU % by the rate', () => {
    const runs = [run(topologies[0]!.name, 0, 2000), run(topologies[1]!.name, 1, 1000), run(topologies[2]!.name, 2, 500)]
    const { rows, json } = summariseCluster(runs)
    const t = json.topologies as { topology: string; readingsPerSec: number; ratioToSingle: number; cpuUsPerReading: Record<string, number | null> }[]
    expect(t.map((x) => [x.topology, x.readingsPerSec, x.ratioToSingle])).toEqual([
      [topologies[0]!.name, 2000, 1], [topologies[1]!.name, 1000, 0.5], [topologies[2]!.name, 500, 0.25],
    ])
    // 50 % of a core at 2,000 readings/s: 250 µs a reading.
    expect(usPerReading(50, 2000)).toBe(250)
    expect(t[0]!.cpuUsPerReading).toEqual({ edge: 250, worker: null, nats: null, natsBusiestNode: null, postgres: 25, influx: 5 })
    expect(t[2]!.cpuUsPerReading).toEqual({ edge: 1000, worker: 800, nats: 600, natsBusiestNode: 300, postgres: 100, influx: 20 })
    const table = renderTable(rows, [])
    expect(table).toMatch(/cluster, 1 edge \+ 2 workers: end to end \(readings\/s\)\s+500/)
    expect(table).toMatch(/÷ single process, same run\s+0\.25/)
    expect(rows.filter((r) => r.label.includes('nats-server'))).toHaveLength(2)
  })
})

describe('walCounts', () => {
  it('counts commit records and heap row-write records of pg_waldump --stats=record, nothing else', () => {
    const stats = [
      'WAL statistics between 0/20000C0 and 0/2727B08:',
      'Type                                           N      (%)          Record size      (%)             FPI size      (%)        Combined size      (%)',
      '----                                           -      ---          -----------      ---             --------      ---        -------------      ---',
      'XLOG/FPI                                     963 (  4.43)                47187 (  1.56)              4281148 ( 97.18)              4328335 ( 58.21)',
      'Transaction/COMMIT                          1129 (  5.20)                74270 (  2.45)                    0 (  0.00)                74270 (  1.00)',
      'Heap2/MULTI_INSERT                           287 (  1.32)                70271 (  2.32)                    0 (  0.00)                70271 (  0.95)',
      'Heap/INSERT                                 1612 (  7.42)               846914 ( 27.95)                 5728 (  0.13)               852642 ( 11.47)',
      'Heap/DELETE                                   22 (  0.10)                 1193 (  0.04)                 7268 (  0.16)                 8461 (  0.11)',
      'Heap/UPDATE                                 1693 (  7.79)               544114 ( 17.96)                 5656 (  0.13)               549770 (  7.39)',
      'Heap/HOT_UPDATE                             1958 (  9.01)               249870 (  8.25)                 8152 (  0.19)               258022 (  3.47)',
      'Heap/LOCK                                   2973 ( 13.68)               160577 (  5.30)                56356 (  1.28)               216933 (  2.92)',
      'Btree/INSERT_LEAF                           8388 ( 38.60)               632818 ( 20.89)                 8460 (  0.19)               641278 (  8.62)',
      '                                        --------                      --------                      --------                      --------',
      'Total                                      21730                       3030101 [40.75%]              4405536 [59.25%]              7435637 [100%]',
    ].join('\n')
    expect(walCounts(stats)).toEqual({ commits: 1129, rows: 287 + 1612 + 22 + 1693 + 1958 })
  })
})

describe('the InfluxDB stand-in', () => {
  it('counts the line-protocol points written to it, with or without a final newline', async () => {
    const influx = await startInflux(true)
    try {
      const url = influx.env.INFLUX_URL as string
      await fetch(`${url}/write?db=forewarn`, { method: 'POST', body: 'm x=1 1\nm x=2 2' })
      await fetch(`${url}/write?db=forewarn`, { method: 'POST', body: 'm x=3 3\n' })
      expect(await influx.points()).toBe(3)
    } finally {
      await influx.stop()
    }
  })
})

interface Topology {
  topology: string
  workers: number
  readingsPerSec: number
  ratioToSingle: number
  acceptedPerSec: number
  cpuUsPerReading: { edge: number; worker: number | null; nats: number | null; natsBusiestNode: number | null; postgres: number; influx: number }
  postgres: { commitsPerSec: number; rowsPerSec: number }
  influxPointsPerSec: number
  latencyRatePerSec: number
  publishToPubackMs: { p50: number; p99: number }
  publishToWarningMs: { p50: number; p99: number }
  warningsInjected: number
  warningsMissing: number
}

// Starts three nats-server nodes and PostgreSQL itself: skipped with the reason where they are
// missing, a failure under CI=true.
describeService(['nats', 'postgres'], 'forewarn bench --cluster --quick --json', () => {
  it('measures the single process and the cluster with 1 and 2 workers, and reports every figure', () => {
    const res = spawnSync(process.execPath, ['bin/forewarn.js', 'bench', '--cluster', '--quick', '--json'], { encoding: 'utf8', timeout: 280_000 })
    expect(res.status, res.stderr.slice(-3000)).toBe(0)
    const lines = res.stdout.trimEnd().split('\n')
    expect(lines[0]).toMatch(/^figure\s+median/)
    const r = JSON.parse(lines.at(-1) as string) as { cluster: boolean; quick: boolean; topologies: Topology[] }
    expect(r.cluster).toBe(true)
    expect(r.topologies.map((t) => [t.topology, t.workers])).toEqual(topologies.map((t) => [t.name, t.workers]))
    const single = r.topologies[0] as Topology
    for (const t of r.topologies) {
      const cluster = t.workers > 0
      // Plausible: something flowed, and no figure is beyond what loopback on this machine can do.
      expect(t.readingsPerSec, t.topology).toBeGreaterThan(0)
      expect(t.readingsPerSec, t.topology).toBeLessThan(1_000_000)
      expect(t.acceptedPerSec, t.topology).toBeGreaterThan(0)
      expect(t.ratioToSingle).toBeCloseTo(t.readingsPerSec / single.readingsPerSec, 2)
      expect(t.cpuUsPerReading.edge, t.topology).toBeGreaterThan(0)
      expect(t.cpuUsPerReading.edge, t.topology).toBeLessThan(100_000)
      if (cluster) {
        expect(t.cpuUsPerReading.worker, t.topology).toBeGreaterThan(0)
        expect(t.cpuUsPerReading.nats, t.topology).toBeGreaterThan(0)
        expect(t.cpuUsPerReading.natsBusiestNode, t.topology).toBeGreaterThan(0)
        expect(t.cpuUsPerReading.natsBusiestNode as number, t.topology).toBeLessThanOrEqual(t.cpuUsPerReading.nats as number)
      } else {
        expect(t.cpuUsPerReading.worker).toBeNull()
        expect(t.cpuUsPerReading.nats).toBeNull()
        expect(t.cpuUsPerReading.natsBusiestNode).toBeNull()
      }
      expect(t.cpuUsPerReading.postgres).toBeGreaterThanOrEqual(0)
      expect(t.postgres.commitsPerSec, t.topology).toBeGreaterThan(0)
      expect(t.postgres.rowsPerSec, t.topology).toBeGreaterThan(0)
      // Every reading becomes at least one telemetry point.
      expect(t.influxPointsPerSec, t.topology).toBeGreaterThan(0)
      expect(t.latencyRatePerSec, t.topology).toBeGreaterThan(0)
      for (const l of [t.publishToPubackMs, t.publishToWarningMs]) {
        expect(l.p50, t.topology).toBeGreaterThan(0)
        expect(l.p50, t.topology).toBeLessThanOrEqual(l.p99)
        expect(l.p99, t.topology).toBeLessThan(60_000)
      }
      expect(t.warningsInjected, t.topology).toBe(10)
      expect(t.warningsMissing, t.topology).toBe(0)
    }
    for (const label of ['÷ single process, same run', 'CPU per reading, nats-server × 3, summed (µs)', 'publish → PUBACK p99 (ms)', 'publish → warning p99 (ms)']) {
      expect(res.stdout).toContain(label)
    }
  }, 300_000)
})
