import { describe, expect, it } from 'vitest'
import { extractorOf, extractors, USAGE_CYCLE } from '../../detectors/extractors.ts'
import type { ApplianceType } from '../../domain/index.ts'

/** Feeds one-minute readings into a fresh extractor; returns the window values (time mode) or the cycle values. */
function run(type: ApplianceType, readings: Record<string, number>[]): number[] {
  const ext = extractorOf(type)!
  const acc = new Float64Array(ext.accSlots)
  const out = new Float64Array(ext.features.length).fill(NaN)
  let cycle: number[] | null = null
  for (const m of readings) {
    ext.usage(acc, m)
    if (ext.add(acc, m, 1, false, out)) cycle = Array.from(out)
  }
  if (ext.mode === 'cycle') return cycle ?? []
  ext.finish(acc, out)
  return Array.from(out)
}

const close = (xs: number[], ys: number[]): void => {
  expect(xs.length).toBe(ys.length)
  xs.forEach((x, i) => expect(x).toBeCloseTo(ys[i]!, 6))
}

describe('refrigerator features', () => {
  it('measures duty (normalised to a 20 °C room − cabinet gap), running current, condenser rise, evaporator and cabinet offsets', () => {
    const rs = Array.from({ length: 720 }, (_, i) => {
      const on = i % 60 < 24 ? 1 : 0
      return { cabinet_temp_c: 4, setpoint_c: 4, ambient_temp_c: 24, compressor_on: on, compressor_current_a: on ? 1.2 : 0.02, condenser_temp_c: on ? 36 : 24, evaporator_temp_c: -20, door_open: 0, freezer_temp_c: -18 }
    })
    expect(extractors.refrigerator.features).toEqual(['duty_cycle', 'running_current_a', 'condenser_temp_c', 'evaporator_temp_c', 'cabinet_temp_c'])
    close(run('refrigerator', rs), [0.4, 1.2, 12, -24, 0])
  })

  it('ignores readings outside plausible ranges (sensor spikes)', () => {
    const rs = Array.from({ length: 720 }, (_, i) => ({ cabinet_temp_c: i === 100 ? 99 : 4, setpoint_c: 4, ambient_temp_c: 24, compressor_on: 1, compressor_current_a: i === 200 ? 40 : 1, condenser_temp_c: 36, evaporator_temp_c: -20, door_open: 0 }))
    const v = run('refrigerator', rs)
    expect(v[1]).toBeCloseTo(1, 9)
    expect(v[4]).toBeCloseTo(0, 9)
  })

  it('counts compressor starts and door openings as usage', () => {
    const ext = extractors.refrigerator
    const acc = new Float64Array(ext.accSlots)
    const out = new Float64Array(ext.features.length)
    const seq = [0, 1, 1, 0, 1].map((on, i) => {
      const m = { compressor_on: on, door_open: i === 2 ? 1 : 0 }
      const u = ext.usage(acc, m)
      ext.add(acc, m, 1, false, out)
      return u
    })
    expect(seq.filter((u) => u % 1e7 >= USAGE_CYCLE).length).toBe(2)
    expect(seq.filter((u) => u >= 1e7).length).toBe(1)
  })
})

describe('air conditioner features', () => {
  it('derives cooling capacity as cooling rate while running plus warming rate while off', () => {
    let room = 24
    const rs: Record<string, number>[] = []
    for (let i = 0; i < 720; i++) {
      const on = i % 30 < 12 ? 1 : 0
      room += on ? -0.1 : 0.06
      rs.push({ return_air_temp_c: room, supply_air_temp_c: on ? room - 10 : room, outdoor_temp_c: 30, setpoint_c: 24, compressor_on: on, compressor_current_a: on ? 5 : 0, refrigerant_pressure_bar: 10, filter_dp_pa: 40, indoor_fan_rpm: 1100 })
    }
    const v = run('air_conditioner', rs)
    expect(v[5]).toBeCloseTo(9.6, 6)
    expect(v[1]).toBeCloseTo(5, 6)
    expect(v[2]).toBeCloseTo(10, 6)
    expect(v[3]).toBeCloseTo(10, 6)
    expect(v[4]).toBeCloseTo(40, 6)
  })
})

describe('water heater features', () => {
  it('measures heat rate without draws, element current, anode potential and overshoot past set-point', () => {
    const rs: Record<string, number>[] = []
    let tank = 50
    for (let i = 0; i < 40; i++) { tank += 0.3; rs.push({ tank_temp_c: tank, heater_on: 1, heater_current_a: 8.7, flow_l_min: 0, anode_mv: 700, setpoint_c: 60 }) }
    // Off at 62; thermal lag carries it to 62.5, then it cools.
    const after = [62.2, 62.5, 62.4, 62.3]
    for (let i = 0; i < 30; i++) rs.push({ tank_temp_c: after[i] ?? 62.2 - i * 0.01, heater_on: 0, heater_current_a: 0, flow_l_min: 0, anode_mv: 700, setpoint_c: 60 })
    const v = run('water_heater', rs)
    expect(v[0]).toBeCloseTo(18, 6)
    expect(v[1]).toBeCloseTo(8.7, 6)
    expect(v[2]).toBeCloseTo(700, 6)
    expect(v[3]).toBeCloseTo(2.5, 6)
  })
})

describe('washing machine features', () => {
  it('measures one wash: fill, heat and drain times per 10 L / 10 kg·10 °C, spin vibration', () => {
    const rs: Record<string, number>[] = [{ phase: 0, water_level_l: 0, water_temp_c: 15, vibration_mm_s: 0, load_kg: 0 }]
    for (let i = 1; i <= 5; i++) rs.push({ phase: 1, water_level_l: 2.4 * i, water_temp_c: 15, vibration_mm_s: 0, load_kg: 3 })
    for (let i = 1; i <= 6; i++) rs.push({ phase: 2, water_level_l: 12, water_temp_c: 15 + 2 * i, vibration_mm_s: 1, load_kg: 3 })
    for (let i = 0; i < 10; i++) rs.push({ phase: 3, water_level_l: 12, water_temp_c: 27, vibration_mm_s: 1, load_kg: 3 })
    for (let i = 0; i < 4; i++) rs.push({ phase: 4, water_level_l: 12 - 3 * i, water_temp_c: 27, vibration_mm_s: 0, load_kg: 3 })
    for (let i = 0; i < 5; i++) rs.push({ phase: 5, water_level_l: 0, water_temp_c: 27, vibration_mm_s: 5, load_kg: 3 })
    rs.push({ phase: 0, water_level_l: 0, water_temp_c: 27, vibration_mm_s: 0, load_kg: 0 })
    close(run('washing_machine', rs), [250, 200, 200, 5])
  })

  it('leaves spin vibration out for a heavy load', () => {
    const rs: Record<string, number>[] = [{ phase: 0 }, ...Array.from({ length: 4 }, () => ({ phase: 5, vibration_mm_s: 9, load_kg: 9, water_level_l: 0, water_temp_c: 20 })), { phase: 0, water_level_l: 0, water_temp_c: 20 }]
    expect(Number.isNaN(run('washing_machine', rs)[3])).toBe(true)
  })
})

describe('late readings', () => {
  it('fold into the refrigerator duty sums exactly as in order; order-bound features are left to the ordered path', () => {
    const ext = extractors.refrigerator
    const rs = Array.from({ length: 720 }, (_, i) => {
      const on = i % 60 < 24 ? 1 : 0
      return { cabinet_temp_c: 4, setpoint_c: 4, ambient_temp_c: 24, compressor_on: on, compressor_current_a: on ? 1.2 : 0.02, condenser_temp_c: on ? 36 : 24, evaporator_temp_c: -20, door_open: 0 }
    })
    const acc = new Float64Array(ext.accSlots)
    const out = new Float64Array(ext.features.length)
    // The newest reading came first; every other one of the window arrives after it.
    ext.add(acc, rs[719]!, 1, false, out, 1)
    for (const m of rs.slice(0, 719)) ext.late!(acc, m, 1)
    ext.finish(acc, out)
    expect(out[0]).toBeCloseTo(0.4, 9)
    expect(Array.from(out.slice(1))).toEqual([NaN, NaN, NaN, NaN])
  })

  it('have no order-free sums on air conditioners and washing machines', () => {
    expect(extractors.air_conditioner.late).toBeUndefined()
    expect(extractors.washing_machine.late).toBeUndefined()
    expect(typeof extractors.water_heater.late).toBe('function')
  })
})
