import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createEmbeddedBroker, type EmbeddedBroker } from '../../broker/index.ts'
import { topSelfTime } from '../../cli/bench/profile.ts'
import { influxModeFromEnv } from '../../cli/bench.ts'
import { startInflux } from '../../cli/bench/servers.ts'
import { describeService } from '../services/availability.ts'
import { figure, quantile } from '../../cli/bench/stats.ts'
import { renderTable } from '../../cli/bench/table.ts'
import { WireConnection, encodePublish, topicField } from '../../cli/bench/wire.ts'

describe('FOREWARN_BENCH_INFLUX', () => {
  it('takes real (the default), none or discard, and nothing else', () => {
    expect([undefined, '', ' none ', 'discard'].map(influxModeFromEnv)).toEqual(['real', 'real', 'none', 'discard'])
    expect(() => influxModeFromEnv('off')).toThrow('FOREWARN_BENCH_INFLUX: real, none or discard, not off')
  })

  it('discard: a stand-in answers as InfluxDB 1.x does, stores nothing, and stops', async () => {
    const influx = await startInflux(true)
    try {
      const url = influx.env.INFLUX_URL as string
      expect((await fetch(`${url}/ping`)).status).toBe(204)
      expect((await fetch(`${url}/write?db=forewarn&precision=ms`, { method: 'POST', body: 'telemetry,device_id=d x=1 1' })).status).toBe(204)
      const show = (await (await fetch(`${url}/query?q=SHOW%20DATABASES`)).json()) as { results: { series: { values: string[][] }[] }[] }
      expect(show.results[0]?.series[0]?.values).toEqual([['forewarn']])
    } finally {
      await influx.stop()
    }
    await expect(fetch(`${influx.env.INFLUX_URL as string}/ping`)).rejects.toThrow()
  })
})

describe('bench statistics and table', () => {
  it('interpolates quantiles and reports median with spread', () => {
    expect(quantile([4, 1, 3, 2], 0.5)).toBe(2.5)
    expect(quantile([10, 20], 0.99)).toBeCloseTo(19.9, 10)
    expect(Number.isNaN(quantile([], 0.5))).toBe(true)
    expect(figure([3, 1, 2])).toEqual({ median: 2, min: 1, max: 3, runs: 3 })
  })

  it('prints the spread only for repeated runs, and the notes', () => {
    const out = renderTable([
      { label: 'a', fig: figure([1000, 2000, 3000]), target: '≥ 1: holds' },
      { label: 'b', fig: figure([0.5]) },
    ], ['note'])
    const lines = out.trimEnd().split('\n')
    expect(lines).toHaveLength(5)
    expect(lines[2]).toMatch(/^a\s+2,000\s+1,000 – 3,000\s+3\s+≥ 1: holds$/)
    expect(lines[3]).toMatch(/^b\s+0\.5\s+1$/)
    expect(lines[4]).toBe('* note')
  })
})

describe('topSelfTime', () => {
  it('sums self time per function from a .cpuprofile', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bench-prof-'))
    const file = join(dir, 'x.cpuprofile')
    const frame = (functionName: string) => ({ functionName, url: 'file:///x/ingest/journal.ts', lineNumber: 9 })
    writeFileSync(file, JSON.stringify({
      nodes: [{ id: 1, callFrame: frame('(root)') }, { id: 2, callFrame: frame('commit') }, { id: 3, callFrame: frame('parse') }],
      samples: [2, 3, 2, 2], timeDeltas: [1000, 1000, 1000, 1000],
    }))
    const p = topSelfTime(file, 2)
    rmSync(dir, { recursive: true })
    expect(p.totalMs).toBe(4)
    expect(p.functions).toEqual([
      { name: 'commit', where: 'ingest/journal.ts:10', selfMs: 3, selfPct: 75 },
      { name: 'parse', where: 'ingest/journal.ts:10', selfMs: 1, selfPct: 25 },
    ])
  })
})

describe('WireConnection (the load generator’s MQTT client)', () => {
  let broker: EmbeddedBroker
  const received: Buffer[] = []
  beforeAll(async () => {
    broker = await createEmbeddedBroker({
      port: 0,
      authenticate: (u, p) => Promise.resolve(u === 'dev-1' && p.toString() === 'pw' ? { kind: 'device', deviceId: 'dev-1' } : null),
      onPublish: (_p, _id, kind, payload) => {
        if (kind === 'telemetry') received.push(payload)
        return Promise.resolve()
      },
    })
  })
  afterAll(() => broker.close())

  it('connects with credentials, gets one PUBACK per QoS 1 publish, and is refused with bad ones', async () => {
    const acks: number[] = []
    const c = new WireConnection('127.0.0.1', broker.port, { onPuback: (id) => acks.push(id) })
    expect(await c.connect('dev-1', 'dev-1', 'pw')).toBe(0)
    const topic = topicField('appliances/dev-1/telemetry')
    for (let id = 1; id <= 50; id++) c.write(encodePublish(topic, id, `{"n":${id}}`))
    for (let i = 0; i < 200 && acks.length < 50; i++) await new Promise((r) => setTimeout(r, 10))
    expect(acks).toEqual(Array.from({ length: 50 }, (_, i) => i + 1))
    expect(received.map((b) => b.toString())).toEqual(Array.from({ length: 50 }, (_, i) => `{"n":${i + 1}}`))
    await c.close()
    const bad = new WireConnection('127.0.0.1', broker.port, {})
    expect(await bad.connect('dev-1', 'dev-1', 'wrong')).toBe(4)
    await bad.close()
  })
})

// The bench starts Mosquitto itself: skipped with the reason where it is missing, a failure under CI.
describeService('mosquitto', 'forewarn bench --quick --json', () => {
  it('completes and reports every figure (a smoke check: no speed is asserted)', () => {
    const res = spawnSync(process.execPath, ['bin/forewarn.js', 'bench', '--quick', '--json'], { encoding: 'utf8', timeout: 170_000 })
    expect(res.status, res.stderr.slice(-2000)).toBe(0)
    const lines = res.stdout.trimEnd().split('\n')
    expect(lines[0]).toMatch(/^figure\s+median/)
    const r = JSON.parse(lines.at(-1) as string) as Record<string, unknown>
    const positive = ['mosquittoRelayPerSec', 'aedesRelayPerSec', 'endToEndPerSec', 'endToEndToMosquittoRatio', 'detectorStateBytesPerDevice', 'evaluateReadingsPerSec']
    for (const k of positive) expect(r[k], k).toBeGreaterThan(0)
    const w = r.publishToWarningMs as { p50: number; p99: number; max: number }
    const s = r.publishToStoredMs as { p50: number; p99: number }
    for (const x of [w.p50, w.p99, w.max, s.p50, s.p99]) expect(x).toBeGreaterThan(0)
    expect(w.p50).toBeLessThanOrEqual(w.p99)
    const loop = r.latencyWindow as { eventLoopDelayP99Ms: number; eventLoopDelayMaxMs: number; gcPauseMaxMs: number; gcPauseTotalMs: number }
    expect(loop.eventLoopDelayMaxMs).toBeGreaterThan(0)
    expect(loop.eventLoopDelayMaxMs).toBeGreaterThanOrEqual(loop.eventLoopDelayP99Ms)
    expect(loop.gcPauseTotalMs).toBeGreaterThanOrEqual(loop.gcPauseMaxMs)
    // --quick runs without InfluxDB.
    expect(r.influxCpuPct).toBeNull()
    expect(r.warningsInjected).toBe(40)
    expect(r.warningsMissing).toBe(0)
    expect(r).toHaveProperty('rssMiBAt10kDevices', null)
    expect(Object.keys(r.detectorNsPerReading as object).sort()).toEqual(['air_conditioner', 'engine, 8 metrics', 'refrigerator', 'washing_machine', 'water_heater'])
    expect(r.engineStateBytesPerDevice).toBeGreaterThan(0)
  }, 180_000)
})
