import { describe, expect, it } from 'vitest'
import { createDetector, type Detector } from '../../detectors/index.ts'
import type { ApplianceType, DetectorEvent } from '../../domain/index.ts'
import { createSimAppliance, type SimFault } from '../../simulators/appliance.ts'

const START = Date.UTC(2026, 2, 1)
const DAY = 86_400_000

interface Fed { events: DetectorEvent[]; last: number }

/** Streams a simulated appliance through the detector, from `fromDay` to `toDay`. */
function feed(det: Detector, id: string, type: ApplianceType, seed: number, toDay: number, fault?: SimFault, fromDay = 0): Fed {
  const sim = createSimAppliance({ deviceId: id, type, seed, startMs: START, fault, horizonDays: 60 })
  det.ensureDevice(id, type)
  const events: DetectorEvent[] = []
  let last = 0
  const n = Math.round((toDay * DAY) / sim.intervalMs)
  for (let i = 0; i < n; i++) {
    const r = sim.next()
    if (r.lost || r.ts < START + fromDay * DAY) continue
    events.push(...det.process({ deviceId: id, boot: r.boot, seq: i, ts: r.ts, metrics: r.metrics }))
    last = r.ts
  }
  return { events, last }
}

const fault = (code: string, component: string, onsetDay: number, failDay: number): SimFault =>
  ({ code, component, onsetMs: START + onsetDay * DAY, failureMs: START + failDay * DAY, shape: 1.3 })

describe('detector on simulated appliances', () => {
  it('warns of a gradual compressor wear within 10 days of onset, naming fault, part of the evidence and remaining life', () => {
    const det = createDetector()
    const f = fault('REF-CMPW', 'compressor', 5, 30)
    const { events } = feed(det, 'fr-1', 'refrigerator', 11, 30, f)
    const raised = events.filter((e) => e.kind === 'warning.raised')
    expect(raised.length).toBe(1)
    const w = raised[0]!
    expect(w.faultCode).toBe('REF-CMPW')
    expect(w.source).toBe('detector')
    expect(w.episodeId).toBe('fr-1:REF-CMPW:1')
    expect(w.eventTime).toBeGreaterThan(f.onsetMs)
    expect(w.eventTime).toBeLessThan(f.onsetMs + 10 * DAY)
    expect(w.evidence[0]!.feature).toBe('running_current_a')
    expect(w.rul).not.toBeNull()
    expect(w.rul!.lowHours).toBeLessThanOrEqual(w.rul!.medianHours)
    expect(w.rul!.highHours).toBeGreaterThanOrEqual(w.rul!.medianHours)
    expect(w.message).toMatch(/^Compressor wear: compressor failure limit expected in /)
    // Severity only ever rises within the episode, and every later event belongs to it.
    const ranks = events.map((e) => ['watch', 'warning', 'critical'].indexOf(e.severity))
    expect([...ranks].sort()).toEqual(ranks)
    expect(new Set(events.map((e) => e.episodeId))).toEqual(new Set(['fr-1:REF-CMPW:1']))
    expect(det.health('fr-1')!.components.compressor!.score).toBeLessThan(60)
  })

  it.each([
    ['refrigerator', 3], ['air_conditioner', 4], ['washing_machine', 5], ['water_heater', 6],
  ] as const)('stays quiet on a healthy %s through 40 days of household life', (type, seed) => {
    const det = createDetector()
    const { events } = feed(det, 'h', type, seed, 40)
    expect(events).toEqual([])
    const h = det.health('h')!
    expect(h.warmingUp).toBe(false)
    expect(h.status).toBe('healthy')
    expect(h.usage.runningHours).toBeGreaterThan(0)
    expect(h.usage.cycles).toBeGreaterThan(0)
  })

  it('counts door openings on a refrigerator', () => {
    const det = createDetector()
    feed(det, 'd', 'refrigerator', 3, 2)
    expect(det.health('d')!.usage.doorOpenings).toBeGreaterThan(10)
  })
})

describe('detector input handling', () => {
  it('drops late and duplicate readings without events and keeps the newest event time', () => {
    const det = createDetector()
    det.ensureDevice('x', 'refrigerator')
    const m = { cabinet_temp_c: 4, compressor_on: 0 }
    expect(det.process({ deviceId: 'x', boot: 0, seq: 1, ts: START + 60_000, metrics: m })).toEqual([])
    expect(det.process({ deviceId: 'x', boot: 0, seq: 0, ts: START, metrics: m })).toEqual([])
    expect(det.process({ deviceId: 'x', boot: 0, seq: 1, ts: START + 60_000, metrics: m })).toEqual([])
    expect(det.health('x')!.lastEventTime).toBe(START + 60_000)
  })

  it('ignores readings of unknown devices', () => {
    expect(createDetector().process({ deviceId: 'nope', boot: 0, seq: 0, ts: START, metrics: {} })).toEqual([])
  })

  it('redelivered readings (a whole batch again) never create a second warning', () => {
    const f = fault('WM-DRAIN', 'drain_pump', 4, 24)
    const det = createDetector()
    const sim = createSimAppliance({ deviceId: 'w', type: 'washing_machine', seed: 21, startMs: START, fault: f, horizonDays: 30 })
    det.ensureDevice('w', 'washing_machine')
    const events: DetectorEvent[] = []
    let batch: { ts: number; metrics: Record<string, number> }[] = []
    for (let i = 0; i < 24 * 1440; i++) {
      const r = sim.next()
      if (!r.lost) batch.push(r)
      if (batch.length === 500) {
        // Every batch is delivered twice (QoS 1 redelivery), the second time reversed.
        for (const b of batch) events.push(...det.process({ deviceId: 'w', boot: 0, seq: 0, ts: b.ts, metrics: b.metrics }))
        for (const b of [...batch].reverse()) events.push(...det.process({ deviceId: 'w', boot: 0, seq: 0, ts: b.ts, metrics: b.metrics }))
        batch = []
      }
    }
    const raised = events.filter((e) => e.kind === 'warning.raised')
    expect(raised.map((e) => e.episodeId)).toEqual(['w:WM-DRAIN:1'])
  })

  it('marks a silent device offline when asked with the current time', () => {
    const det = createDetector()
    const { last } = feed(det, 'o', 'water_heater', 6, 1)
    expect(det.health('o', last + 60_000)!.status).toBe('healthy')
    expect(det.health('o', last + 10 * 60_000)!.status).toBe('offline')
  })
})

describe('snapshot and restore', () => {
  it('resumes without a new warm-up and yields the same events and episode ids as an uninterrupted run', () => {
    const f = fault('WH-ANODE', 'anode', 4, 26)
    const whole = feed(createDetector(), 'a', 'water_heater', 8, 26, f).events
    expect(whole.filter((e) => e.kind === 'warning.raised').length).toBe(1)

    const first = createDetector()
    const part1 = feed(first, 'a', 'water_heater', 8, 10, f).events
    const snap = first.snapshot('a')!
    expect(snap.length).toBeLessThan(4096)
    const second = createDetector()
    second.ensureDevice('a', 'water_heater', snap)
    expect(second.health('a')!.warmingUp).toBe(false)
    const part2 = feed(second, 'a', 'water_heater', 8, 26, f, 10).events
    expect([...part1, ...part2]).toEqual(whole)
  })

  it('ignores a snapshot it cannot read and starts a fresh warm-up', () => {
    const det = createDetector()
    det.ensureDevice('z', 'refrigerator', '{not json')
    expect(det.health('z')!.warmingUp).toBe(true)
  })
})

describe('firmware error codes', () => {
  it('become warnings at once with the catalogue meaning, one per episode', () => {
    const det = createDetector()
    det.ensureDevice('f', 'washing_machine')
    const [e] = det.firmwareEvent('f', 'E21', START, 'pump blocked')
    expect(e).toMatchObject({
      kind: 'warning.raised', episodeId: 'f:E21:1', faultCode: 'E21', component: 'drain_pump', severity: 'critical',
      message: 'Drain timeout (pump blocked)', source: 'firmware', eventTime: START,
    })
    expect(det.firmwareEvent('f', 'E21', START + 1000)).toEqual([])
    expect(det.firmwareEvent('f', 'E99', START)).toEqual([])
    expect(det.health('f')!.status).toBe('critical')
    expect(det.health('f')!.components.drain_pump!.score).toBe(10)
  })
})
