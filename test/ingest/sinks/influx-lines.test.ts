import { describe, expect, it } from 'vitest'
import type { DetectorEvent, HealthCore } from '../../../domain/index.ts'
import { healthLines, pipelineLine, readingLines, ticketLine, warningLine } from '../../../ingest/sinks/influx-lines.ts'

const tags = { type: 'air_conditioner', model: 'AC 9000', region: 'eu,west' }

describe('line protocol in the documented schema', () => {
  it('writes a reading as one telemetry point with escaped tags, float fields and its event time in ms', () => {
    const out: string[] = []
    readingLines([{ reading: { deviceId: 'd 1', boot: 0, seq: 5, ts: 1_700_000_000_123, metrics: { b_c: 2, a_a: 1.25, bad: Number.NaN } }, tags }], out)
    expect(out).toEqual(['telemetry,device_id=d\\ 1,model=AC\\ 9000,region=eu\\,west,type=air_conditioner a_a=1.25,b_c=2 1700000000123'])
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
