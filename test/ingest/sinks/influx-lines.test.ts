import { Point } from '@influxdata/influxdb-client'
import { describe, expect, it } from 'vitest'
import type { DetectorEvent, HealthCore } from '../../../domain/index.ts'
import type { TaggedReading } from '../../../ingest/sink.ts'
import { healthLines, pipelineLine, readingLines, ticketLine, warningLine } from '../../../ingest/sinks/influx-lines.ts'

const tags = { type: 'air_conditioner', model: 'AC 9000', region: 'eu,west' }

describe('line protocol in the documented schema', () => {
  it('writes a reading as one telemetry point with escaped tags, float fields in the order sent and its event time in ms', () => {
    const out: string[] = []
    readingLines([{ reading: { deviceId: 'd 1', boot: 0, seq: 5, ts: 1_700_000_000_123, metrics: { b_c: 2, a_a: 1.25, bad: Number.NaN, e: 1e21, t: -0.5 } }, tags }], out)
    expect(out).toEqual(['telemetry,device_id=d\\ 1,model=AC\\ 9000,region=eu\\,west,type=air_conditioner b_c=2,a_a=1.25,e=1e+21,t=-0.5 1700000000123'])
  })

  it('writes the same line as the client library for each reading, whatever device and tags come in', () => {
    const other = { type: 'refrigerator', model: 'FR=1', region: 'north' }
    const batch: TaggedReading[] = [
      { reading: { deviceId: 'a', boot: 0, seq: 0, ts: 10.7, metrics: { z: 3, a: 0.1 } }, tags },
      { reading: { deviceId: 'b', boot: 0, seq: 0, ts: 11, metrics: { a: 2 } }, tags },
      { reading: { deviceId: 'a', boot: 0, seq: 1, ts: 12, metrics: { a: 1 } }, tags: other },
    ]
    const out: string[] = []
    readingLines(batch, out)
    const viaPoint = batch.map(({ reading: r, tags: t }) => {
      const p = new Point('telemetry').tag('device_id', r.deviceId).tag('type', t.type).tag('model', t.model).tag('region', t.region).timestamp(Math.trunc(r.ts))
      for (const k of Object.keys(r.metrics).sort()) p.floatField(k, r.metrics[k] as number)
      return p.toLineProtocol({ convertTime: (v) => String(v) })
    })
    // The library sorts fields by name; with names sent in that order both agree byte for byte.
    const sortedFields = (l: string): string => {
      const a = l.search(/(?<!\\) /)
      const b = l.lastIndexOf(' ')
      return `${l.slice(0, a)} ${l.slice(a + 1, b).split(',').sort().join(',')}${l.slice(b)}`
    }
    expect(out.map(sortedFields)).toEqual(viaPoint)
    expect(out).toEqual([
      'telemetry,device_id=a,model=AC\\ 9000,region=eu\\,west,type=air_conditioner z=3,a=0.1 10',
      'telemetry,device_id=b,model=AC\\ 9000,region=eu\\,west,type=air_conditioner a=2 11',
      'telemetry,device_id=a,model=FR\\=1,region=north,type=refrigerator a=1 12',
    ])
  })

  it('skips a reading with no finite metric', () => {
    const out: string[] = []
    readingLines([{ reading: { deviceId: 'd', boot: 0, seq: 0, ts: 1, metrics: { x: Number.POSITIVE_INFINITY } }, tags }], out)
    expect(out).toEqual([])
  })

  it('writes health as an overall point plus one per component', () => {
    const core: HealthCore = {
      overall: 72, status: 'watch', components: { compressor: { score: 60, reason: 'r' } },
      usage: { runningHours: 0, cycles: 0, doorOpenings: 0 }, lastEventTime: null, warmingUp: false,
    }
    const out: string[] = []
    healthLines('d1', tags, core, 5000, out)
    expect(out).toEqual([
      'health,component=overall,device_id=d1,model=AC\\ 9000,region=eu\\,west,type=air_conditioner score=72,status="watch" 5000',
      'health,component=compressor,device_id=d1,model=AC\\ 9000,region=eu\\,west,type=air_conditioner score=60 5000',
    ])
  })

  it('writes warnings, ticket events and pipeline statistics as their own measurements', () => {
    const ev: DetectorEvent = {
      kind: 'warning.escalated', deviceId: 'd1', episodeId: 'd1:E4:1', faultCode: 'E4', component: 'compressor', severity: 'critical',
      eventTime: 1, message: 'current "rising"', evidence: [], rul: { medianHours: 30, lowHours: 10, highHours: 50 }, source: 'detector',
    }
    expect(warningLine(ev, tags, 9000)).toBe(
      'warnings,device_id=d1,event=escalated,fault_code=E4,model=AC\\ 9000,region=eu\\,west,severity=critical,type=air_conditioner episode_id="d1:E4:1",message="current \\"rising\\"",rul_hours_median=30 9000',
    )
    expect(ticketLine({ ticketId: 't1', deviceId: 'd1', type: 'refrigerator', faultCode: 'E4', priority: 'P1', event: 'opened', state: 'open', slaState: 'on_time', atMs: 7 })).toBe(
      'tickets,device_id=d1,event=opened,fault_code=E4,priority=P1,type=refrigerator sla_state="on_time",state="open",ticket_id="t1" 7',
    )
    expect(pipelineLine('ingest', { accepted: 10, lag_ms: 1.5, rejected: Number.NaN }, 3)).toBe('pipeline,stage=ingest accepted=10i,lag_ms=1.5 3')
  })
})
