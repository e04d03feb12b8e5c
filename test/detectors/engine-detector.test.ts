/** The live detector for data-defined machine types, on real rig data (SKAB valve1) and on rules. */
import { afterEach, beforeEach, expect, it } from 'vitest'
import { createCatalogueDetector } from '../../detectors/catalogue-detector.ts'
import { ANOMALY, createEngineDetector } from '../../detectors/engine-detector.ts'
import { installCatalogue, type ApplianceSpec, type DetectorEvent } from '../../domain/index.ts'
import { describeWithSkab, pumpSpec, skabRun } from '../fixtures/skab.ts'

const TYPE = 'circulation_pump'

function feed(spec: ApplianceSpec, run: number, detector = createEngineDetector()) {
  installCatalogue([spec])
  detector.ensureDevice('p1', spec.type)
  const r = skabRun(run, 'p1', spec)
  const events: (DetectorEvent & { row: number })[] = []
  r.readings.forEach((reading, row) => { for (const e of detector.process(reading)) events.push({ ...e, row }) })
  return { ...r, events, detector }
}

beforeEach(() => installCatalogue([pumpSpec()]))
afterEach(() => installCatalogue())

describeWithSkab('engine detector on SKAB valve1 (real pump rig)', () => {
  it('warns inside the fault on most runs, and seldom before it', () => {
    let clean = 0
    let early = 0
    for (let run = 0; run < 16; run++) {
      const { events, onset, end } = feed(pumpSpec(), run)
      const first = events.find((e) => e.kind === 'warning.raised')
      if (first && first.row < onset) early++
      if (first && first.row >= onset && first.row <= end) clean++
    }
    // Measured with this file's settings (warm-up 0.05 h = 180 rows) on the engine of 1d3ab90:
    // 11 of 16 clean, 1 early (run 1), 4 missed. Floors, not the figures: the engine is still tuned.
    expect(early).toBeLessThanOrEqual(1)
    expect(clean).toBeGreaterThanOrEqual(10)
  })

  it('raises ANOMALY on the component of the metrics that moved, with evidence in the catalogue\'s units', () => {
    const { events, onset, end } = feed(pumpSpec(), 8)
    const raised = events.filter((e) => e.kind === 'warning.raised')
    expect(raised).toHaveLength(1)
    const w = raised[0]!
    expect(w.row).toBeGreaterThanOrEqual(onset)
    expect(w.row).toBeLessThanOrEqual(end)
    expect([w.faultCode, w.component, w.source, w.episodeId]).toEqual([ANOMALY, 'pump', 'detector', 'p1:ANOMALY:1'])
    expect(w.evidence[0]).toMatchObject({ feature: 'flow_l_min', unit: 'L/min' })
    expect(w.evidence[0]!.detail).toMatch(/^flow_l_min fell from [\d.]+ L\/min to [\d.]+ L\/min/)
    // The trend of the health index gives a remaining life as the fault goes on: critical.
    const escalated = events.find((e) => e.kind === 'warning.escalated')!
    expect(escalated.severity).toBe('critical')
    expect(escalated.rul!.medianHours).toBeGreaterThan(0)
    expect(escalated.evidence).toEqual(w.evidence)
    expect(events.at(-1)!.kind).toBe('warning.cleared')
  })

  it('puts an anomaly on the type\'s first component when its metrics name none', () => {
    const spec = pumpSpec()
    const plain = { ...spec, metrics: spec.metrics.map(({ component: _c, ...m }) => m) }
    const w = feed(plain, 8).events.find((e) => e.kind === 'warning.raised')!
    expect([w.faultCode, w.component]).toEqual([ANOMALY, 'pump'])
    const motorFirst = { ...plain, components: [...spec.components].reverse() }
    expect(feed(motorFirst, 8).events.find((e) => e.kind === 'warning.raised')!.component).toBe('motor')
  })

  it('names the fault when the metrics that moved match a fault\'s symptoms (direction included)', () => {
    const fault = { component: 'pump', description: 'The inlet is throttled: less water gets through.', impact: 'medium' as const, parts: [{ partNumber: 'CP-VA-1002', name: 'Inlet valve' }] }
    const spec = {
      ...pumpSpec(),
      faults: [
        { ...fault, code: 'CP-BURST', name: 'Burst pipe', symptoms: [{ feature: 'flow_l_min', direction: 'up' as const }] },
        { ...fault, code: 'CP-INLET', name: 'Inlet restriction', symptoms: [{ feature: 'flow_l_min', direction: 'down' as const }] },
      ],
    }
    const { events } = feed(spec, 8)
    const w = events.find((e) => e.kind === 'warning.raised')!
    expect([w.faultCode, w.component, w.episodeId]).toEqual(['CP-INLET', 'pump', 'p1:CP-INLET:1'])
    expect(w.message).toMatch(/^Inlet restriction: pump and inlet valve/)
    expect(events.every((e) => e.faultCode === 'CP-INLET')).toBe(true)
  })

  it('resumes from a snapshot with the same events as without the restart', () => {
    const whole = feed(pumpSpec(), 12).events
    const { readings } = skabRun(12, 'p1')
    const a = createEngineDetector()
    a.ensureDevice('p1', TYPE)
    const events: DetectorEvent[] = []
    readings.slice(0, 400).forEach((r) => events.push(...a.process(r)))
    const b = createEngineDetector()
    b.ensureDevice('p1', TYPE, a.snapshot('p1'))
    readings.slice(400).forEach((r) => events.push(...b.process(r)))
    expect(events).toEqual(whole.map(({ row: _row, ...e }) => e))
    expect(b.health('p1')!.lastEventTime).toBe(readings.at(-1)!.ts)
  })

  it('holds a component under repair, and a repair clears its episode and restarts the history', () => {
    const { readings, onset } = skabRun(8, 'p1')
    const d = createEngineDetector()
    d.ensureDevice('p1', TYPE)
    d.repairAction!('p1', 'pump', 'hold')
    const held = readings.flatMap((r) => d.process(r))
    expect(held).toEqual([])
    expect(d.health('p1')!.components.pump!.reason).toContain('repair in progress')

    const e = createEngineDetector()
    e.ensureDevice('p1', TYPE)
    readings.slice(0, onset + 100).forEach((r) => e.process(r))
    expect(e.history('p1')!.rows).toHaveLength(onset + 100)
    expect(e.devicesOf(TYPE)).toEqual([{ id: 'p1', healthy: false }])
    e.ensureDevice('p2', TYPE)
    expect(e.devicesOf(TYPE)).toEqual([{ id: 'p1', healthy: false }, { id: 'p2', healthy: true }])
    const cleared = e.repairAction!('p1', 'pump', 'reset')
    expect(cleared.map((x) => [x.kind, x.episodeId, x.message])).toEqual([['warning.cleared', 'p1:ANOMALY:1', 'Anomaly of the pump and inlet valve: cleared by a repair']])
    expect(e.history('p1')!.rows).toHaveLength(0)
    expect(e.health('p1')!.warmingUp).toBe(true)
  })

  it('routes shipped types to the appliance detector and data-defined ones to the engine', () => {
    const d = createCatalogueDetector()
    expect([d.watchedByEngine('refrigerator'), d.watchedByEngine(TYPE)]).toEqual([false, true])
    d.ensureDevice('f1', 'refrigerator')
    d.ensureDevice('p1', TYPE)
    expect(JSON.parse(d.snapshot('f1')!).type).toBe('refrigerator')
    expect(JSON.parse(d.snapshot('p1')!)).toMatchObject({ kind: 'engine', type: TYPE })
    expect(d.engine.devicesOf(TYPE).map((x) => x.id)).toEqual(['p1'])
  })
})
