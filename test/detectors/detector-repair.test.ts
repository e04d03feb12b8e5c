import { describe, expect, it } from 'vitest'
import { createDetector } from '../../detectors/index.ts'
import { DAY, START, brief, fault, run, sim } from './feed.ts'

// Refrigerator seed 11 with compressor wear from day 5 to day 30: warned by day 15 (detector.test.ts).
const wear = fault('REF-CMPW', 'compressor', 5, 30)

describe('repair actions: hold and release', () => {
  it('a held component raises nothing; the release lets the warning out at the next window', () => {
    const det = createDetector()
    det.ensureDevice('fr', 'refrigerator')
    expect(det.repairAction!('fr', 'compressor', 'hold')).toEqual([])
    const a = sim('fr', 'refrigerator', 11, 0, wear)
    expect(run(det, a, 20)).toEqual([])
    const h = det.health('fr')!
    expect(h.components.compressor!.score).toBeLessThan(60)
    expect(h.components.compressor!.reason).toMatch(/\(repair in progress: warnings held\)$/)
    expect(h.components.door_seal!.reason).not.toMatch(/held/)
    det.repairAction!('fr', 'compressor', 'release')
    const after = run(det, a, 21)
    expect(brief(after)).toEqual(['warning.raised fr:REF-CMPW:1'])
    // The first reading after the release closes the window that ends at day 20.
    expect(after[0]!.eventTime).toBe(START + 20 * DAY)
  })

  it('a hold stops escalation but keeps the open episode; the release escalates it', () => {
    // Reference: without a hold the episode (raised at day 14.5) escalates twice before day 28.
    const ref = createDetector()
    ref.ensureDevice('fr', 'refrigerator')
    const r = sim('fr', 'refrigerator', 11, 0, wear)
    expect(brief(run(ref, r, 15))).toEqual(['warning.raised fr:REF-CMPW:1'])
    expect(run(ref, r, 28).map((e) => `${e.kind} ${e.severity}`)).toEqual(['warning.escalated warning', 'warning.escalated critical'])

    const det = createDetector()
    det.ensureDevice('fr', 'refrigerator')
    const a = sim('fr', 'refrigerator', 11, 0, wear)
    const raised = run(det, a, 15)
    expect(raised.map((e) => e.severity)).toEqual(['watch'])
    det.repairAction!('fr', 'compressor', 'hold')
    expect(run(det, a, 28)).toEqual([])
    expect(det.health('fr')!.status).toBe(raised[0]!.severity)
    det.repairAction!('fr', 'compressor', 'release')
    const resumed = run(det, a, 29)
    expect(brief(resumed)).toEqual(['warning.escalated fr:REF-CMPW:1'])
    expect(resumed[0]!.severity).toBe('critical')
  })

  it('ignores unknown devices and components', () => {
    const det = createDetector()
    det.ensureDevice('fr', 'refrigerator')
    expect(det.repairAction!('nope', 'compressor', 'reset')).toEqual([])
    expect(det.repairAction!('fr', 'drain_pump', 'hold')).toEqual([])
  })
})

describe('repair actions: reset', () => {
  it('clears the component\'s open episodes only, relearns a repaired part without re-warning, and a returning fault is episode n+1', () => {
    const det = createDetector()
    det.ensureDevice('fr', 'refrigerator')
    const a = sim('fr', 'refrigerator', 11, 0, wear)
    expect(brief(run(det, a, 20)).filter((e) => e.startsWith('warning.raised'))).toEqual(['warning.raised fr:REF-CMPW:1'])
    const e7 = det.firmwareEvent('fr', 'E7', START + 20 * DAY - 600_000)
    const e1 = det.firmwareEvent('fr', 'E1', START + 20 * DAY - 600_000)
    expect(brief([...e7, ...e1])).toEqual(['warning.raised fr:E7:1', 'warning.raised fr:E1:1'])
    const last = det.health('fr')!.lastEventTime!

    det.repairAction!('fr', 'compressor', 'hold')
    const cleared = det.repairAction!('fr', 'compressor', 'reset')
    det.repairAction!('fr', 'compressor', 'release')
    expect(brief(cleared)).toEqual(['warning.cleared fr:REF-CMPW:1', 'warning.cleared fr:E7:1'])
    expect(cleared.map((e) => e.eventTime)).toEqual([last, last])
    expect(cleared.map((e) => e.component)).toEqual(['compressor', 'compressor'])
    expect(cleared[0]!.message).toBe('Compressor wear: cleared by a repair')
    // A second reset has nothing left to clear.
    expect(det.repairAction!('fr', 'compressor', 'reset')).toEqual([])
    const h = det.health('fr')!
    expect(h.warmingUp).toBe(true)
    expect(h.components.compressor!.score).toBe(100)
    expect(h.status).toBe('warning') // E1 on the control board is still open

    // The part was replaced: the same appliance, healthy, from day 20 on. Only E1 goes quiet.
    const b = sim('fr', 'refrigerator', 11, 20)
    expect(brief(run(det, b, 45))).toEqual(['warning.cleared fr:E1:1'])
    expect(det.health('fr')!.warmingUp).toBe(false)
    expect(det.health('fr')!.status).toBe('healthy')

    // The fault comes back later: a new episode, numbered on.
    const c = sim('fr', 'refrigerator', 11, 45, fault('REF-CMPW', 'compressor', 46, 70))
    const back = run(det, c, 70).filter((e) => e.kind === 'warning.raised')
    expect(brief(back)).toEqual(['warning.raised fr:REF-CMPW:2'])
  })

  it('after a reset a worn part that stays in is its new normal (no re-warning)', () => {
    const det = createDetector()
    det.ensureDevice('fr', 'refrigerator')
    const a = sim('fr', 'refrigerator', 11, 0, fault('REF-CMPW', 'compressor', 5, 16))
    run(det, a, 18)
    expect(brief(det.repairAction!('fr', 'compressor', 'reset'))).toEqual(['warning.cleared fr:REF-CMPW:1'])
    expect(run(det, a, 40)).toEqual([])
  })
})

describe('repair actions survive snapshot and restore', () => {
  it('a held component stays held on another worker', () => {
    const first = createDetector()
    first.ensureDevice('fr', 'refrigerator')
    first.repairAction!('fr', 'compressor', 'hold')
    const a = sim('fr', 'refrigerator', 11, 0, wear)
    expect(run(first, a, 10)).toEqual([])
    const snap = first.snapshot('fr')!
    expect(JSON.parse(snap).v).toBe(3)
    const second = createDetector()
    second.ensureDevice('fr', 'refrigerator', snap)
    expect(run(second, a, 20)).toEqual([])
    expect(second.health('fr')!.components.compressor!.reason).toMatch(/warnings held/)
    second.repairAction!('fr', 'compressor', 'release')
    expect(brief(run(second, a, 21))).toEqual(['warning.raised fr:REF-CMPW:1'])
  })

  it('a reset in progress (relearning) resumes exactly as an uninterrupted run', () => {
    const events = (split: boolean): string[] => {
      let det = createDetector()
      det.ensureDevice('fr', 'refrigerator')
      const a = sim('fr', 'refrigerator', 11, 0, fault('REF-CMPW', 'compressor', 5, 16))
      const out = brief(run(det, a, 18))
      out.push(...brief(det.repairAction!('fr', 'compressor', 'reset')))
      const c = sim('fr', 'refrigerator', 11, 18, fault('REF-CMPW', 'compressor', 19, 40))
      out.push(...brief(run(det, c, 19)))
      if (split) {
        const snap = det.snapshot('fr')!
        det = createDetector()
        det.ensureDevice('fr', 'refrigerator', snap)
        expect(det.health('fr')!.warmingUp).toBe(true)
      }
      out.push(...brief(run(det, c, 40)))
      return out
    }
    const whole = events(false)
    expect(whole.filter((e) => e.startsWith('warning.raised'))).toEqual(['warning.raised fr:REF-CMPW:1', 'warning.raised fr:REF-CMPW:2'])
    expect(events(true)).toEqual(whole)
  })
})
