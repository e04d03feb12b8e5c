import { describe, expect, it } from 'vitest'
import { createDetector, type Detector } from '../../detectors/index.ts'
import { HOUR, START, brief } from './feed.ts'

/** A washing machine at rest, one reading a minute from `from` to `to` (event time, ms). */
function idle(det: Detector, id: string, from: number, to: number): string[] {
  const out: string[] = []
  for (let ts = from; ts < to; ts += 60_000) out.push(...brief(det.process({ deviceId: id, boot: 0, seq: 0, ts, metrics: { phase: 0, water_level_l: 0, water_temp_c: 20 } })))
  return out
}

function device(config = {}): Detector {
  const det = createDetector(config)
  det.ensureDevice('w', 'washing_machine')
  return det
}

describe('firmware code episodes', () => {
  it('a repeat within the episode is no news; 24 h of readings without the code clear it; the next repeat is episode n+1', () => {
    const det = device()
    expect(brief(det.firmwareEvent('w', 'E21', START))).toEqual(['warning.raised w:E21:1'])
    expect(det.firmwareEvent('w', 'E21', START + HOUR, 'again')).toEqual([])
    // The quiet period counts from the last repeat, on the device's own readings' event time.
    expect(idle(det, 'w', START, START + 25 * HOUR)).toEqual([])
    const cleared = det.process({ deviceId: 'w', boot: 0, seq: 0, ts: START + 25 * HOUR, metrics: { phase: 0 } })
    expect(cleared).toMatchObject([{
      kind: 'warning.cleared', episodeId: 'w:E21:1', faultCode: 'E21', component: 'drain_pump', severity: 'critical',
      eventTime: START + 25 * HOUR, message: 'Drain timeout: not reported for 24 h', source: 'firmware',
    }])
    expect(det.health('w')!.status).toBe('healthy')
    expect(idle(det, 'w', START + 25 * HOUR + 60_000, START + 50 * HOUR)).toEqual([])
    expect(brief(det.firmwareEvent('w', 'E21', START + 50 * HOUR))).toEqual(['warning.raised w:E21:2'])
  })

  it('clears on the code\'s own event time when no reading came in between', () => {
    const det = device()
    det.firmwareEvent('w', 'E10', START)
    expect(brief(det.firmwareEvent('w', 'E10', START + 24 * HOUR))).toEqual(['warning.cleared w:E10:1', 'warning.raised w:E10:2'])
  })

  it('ignores a code redelivered or reported out of order, even after its episode cleared', () => {
    const det = device()
    det.firmwareEvent('w', 'E21', START + HOUR)
    expect(det.firmwareEvent('w', 'E21', START + HOUR)).toEqual([])
    expect(det.firmwareEvent('w', 'E21', START)).toEqual([])
    idle(det, 'w', START, START + 26 * HOUR)
    expect(det.firmwareEvent('w', 'E21', START + HOUR)).toEqual([])
    expect(det.health('w')!.status).toBe('healthy')
  })

  it('takes the quiet period from configuration; other codes keep their own clocks', () => {
    const det = device({ firmwareClearHours: 2 })
    det.firmwareEvent('w', 'E21', START)
    det.firmwareEvent('w', 'E10', START + HOUR)
    expect(idle(det, 'w', START, START + 3 * HOUR + 60_000)).toEqual(['warning.cleared w:E21:1', 'warning.cleared w:E10:1'])
    expect(det.health('w')!.status).toBe('healthy')
  })

  it('the quiet period survives a snapshot and restore', () => {
    const first = device()
    first.firmwareEvent('w', 'E21', START)
    idle(first, 'w', START, START + 10 * HOUR)
    const second = createDetector()
    second.ensureDevice('w', 'washing_machine', first.snapshot('w'))
    expect(second.health('w')!.status).toBe('critical')
    expect(idle(second, 'w', START + 10 * HOUR, START + 24 * HOUR + 60_000)).toEqual(['warning.cleared w:E21:1'])
    expect(brief(second.firmwareEvent('w', 'E21', START + 30 * HOUR))).toEqual(['warning.raised w:E21:2'])
  })

  it('a v2 snapshot with an open firmware episode counts the quiet period from its newest reading', () => {
    const det = device()
    det.firmwareEvent('w', 'E21', START)
    idle(det, 'w', START, START + HOUR)
    const v3 = JSON.parse(det.snapshot('w')!) as { trk: unknown[]; acc: unknown[]; book: number[] }
    // v3 adds three scalars and one slot per firmware code (two for a washing machine, which has
    // no seen-bitmap); v2 ended after the first six scalars.
    const v2 = JSON.stringify({ v: 2, type: 'washing_machine', acc: v3.acc, trk: v3.trk.slice(0, v3.trk.length - 5), book: v3.book })
    const back = createDetector()
    back.ensureDevice('w', 'washing_machine', v2)
    expect(back.health('w')!.lastEventTime).toBe(START + HOUR - 60_000)
    expect(idle(back, 'w', START + HOUR, START + 25 * HOUR - 60_000)).toEqual([])
    expect(idle(back, 'w', START + 25 * HOUR - 60_000, START + 25 * HOUR)).toEqual(['warning.cleared w:E21:1'])
  })

  it('a held component raises no firmware warning', () => {
    const det = device()
    det.repairAction!('w', 'drain_pump', 'hold')
    expect(det.firmwareEvent('w', 'E21', START)).toEqual([])
    expect(brief(det.firmwareEvent('w', 'E10', START))).toEqual(['warning.raised w:E10:1'])
    det.repairAction!('w', 'drain_pump', 'release')
    expect(brief(det.firmwareEvent('w', 'E21', START + HOUR))).toEqual(['warning.raised w:E21:1'])
  })
})
