/**
 * Appliance-aware features. Each extractor folds readings (in event-time order) into a small
 * accumulator and, at the end of a window (time windows) or of a wash (cycle windows), writes
 * one value per feature — NaN when the window did not show it. Features are normalised for
 * what the household does (room temperature, set-point, load) so that only wear moves them.
 */
import type { BuiltinType } from '../domain/index.ts'

export interface Extractor {
  /** Feature names, in the order values are written. */
  readonly features: readonly string[]
  readonly accSlots: number
  /** 'time': values at each window end; 'cycle': `add` writes values when a cycle ends. */
  readonly mode: 'time' | 'cycle'
  /**
   * Folds one reading. `gap` is true when the previous reading is too far back to difference;
   * `wMin` is the minutes the reading stands for in time-weighted sums (at most one reporting
   * interval, so a late reading folded in afterwards weighs the same). Returns true when `out`
   * got cycle values.
   */
  add(acc: Float64Array, m: Readonly<Record<string, number>>, dtMin: number, gap: boolean, out: Float64Array, wMin?: number): boolean
  /**
   * Folds a reading that arrived after newer ones of the same window into the sums that do not
   * depend on order (a reading judged by itself alone); carried state is left untouched.
   * Absent when the type has no such sums.
   */
  late?(acc: Float64Array, m: Readonly<Record<string, number>>, wMin: number): void
  /** Writes the window's values into `out` and resets the per-window sums (keeps carried state). */
  finish(acc: Float64Array, out: Float64Array): void
  /** Usage: minutes the main load ran in this reading, cycles started, door openings started. */
  usage(acc: Float64Array, m: Readonly<Record<string, number>>): number
}

const num = (m: Readonly<Record<string, number>>, k: string): number => {
  const v = m[k]
  return v === undefined ? NaN : v
}
const inRange = (x: number, lo: number, hi: number): boolean => x >= lo && x <= hi
const ratio = (a: number, b: number, minB: number): number => (b >= minB ? a / b : NaN)

/** Usage bit flags returned by `usage` packed as: minutes running + 1e6·cycle + 1e7·door. */
export const USAGE_CYCLE = 1e6
export const USAGE_DOOR = 1e7

// ─── refrigerator ───────────────────────────────────────────────────────────
// acc: 0 totMin, 1 onMin, 2 ambMinusCab, 3 nTemp, 4 curSum, 5 curN, 6 condSum, 7 condN, 8 evapSum, 9 evapN,
//      10 cabSum, 11 cabN, 12 prevOn (carried), 13 onRun (carried), 14 sinceDoor (carried), 15 prevDoor (carried)
/** Duty sums: minutes covered, minutes running, room − cabinet. Order-free, so late readings fold in too. */
function refrigeratorDuty(a: Float64Array, on: boolean, cab: number, amb: number, w: number): void {
  if (!inRange(cab, -5, 25) || !inRange(amb, 0, 50)) return
  a[0]! += w
  if (on) a[1]! += w
  a[2]! += amb - cab
  a[3]! += 1
}

const refrigerator: Extractor = {
  features: ['duty_cycle', 'running_current_a', 'condenser_temp_c', 'evaporator_temp_c', 'cabinet_temp_c'],
  accSlots: 16,
  mode: 'time',
  add(a, m, dt, gap, _out, wMin = Math.min(dt, 5)) {
    const on = num(m, 'compressor_on') >= 0.5
    const cab = num(m, 'cabinet_temp_c'), amb = num(m, 'ambient_temp_c'), sp = num(m, 'setpoint_c')
    const door = num(m, 'door_open') >= 0.5
    if (gap) { a[13] = 0; a[14] = 0 }
    a[13] = on ? a[13]! + 1 : 0
    a[14] = door ? 0 : a[14]! + dt
    refrigeratorDuty(a, on, cab, amb, wMin)
    if (a[13]! >= 3) {
      const cur = num(m, 'compressor_current_a'), cond = num(m, 'condenser_temp_c'), evap = num(m, 'evaporator_temp_c')
      if (inRange(cur, 0.05, 5)) { a[4]! += cur; a[5]! += 1 }
      if (inRange(cond, -10, 80) && inRange(amb, 0, 50)) { a[6]! += cond - amb; a[7]! += 1 }
      if (inRange(evap, -45, 20) && inRange(sp, -5, 15)) { a[8]! += evap - sp; a[9]! += 1 }
    }
    if (a[14]! >= 10 && inRange(cab, -5, 25) && inRange(sp, -5, 15)) { a[10]! += cab - sp; a[11]! += 1 }
    a[12] = on ? 1 : 0
    return false
  },
  late(a, m, wMin) {
    refrigeratorDuty(a, num(m, 'compressor_on') >= 0.5, num(m, 'cabinet_temp_c'), num(m, 'ambient_temp_c'), wMin)
  },
  finish(a, out) {
    const cover = a[0]! >= 240
    // Duty rises with the heat leaking in (∝ room − cabinet): normalise to a 20 °C difference.
    out[0] = cover ? ratio(a[1]! / a[0]! * 20, a[2]! / Math.max(1, a[3]!), 3) : NaN
    out[1] = ratio(a[4]!, a[5]!, 10)
    out[2] = ratio(a[6]!, a[7]!, 10)
    out[3] = ratio(a[8]!, a[9]!, 10)
    out[4] = ratio(a[10]!, a[11]!, 30)
    a.fill(0, 0, 12)
  },
  usage(a, m) {
    const on = num(m, 'compressor_on') >= 0.5
    const door = num(m, 'door_open') >= 0.5
    const u = (on ? 1 : 0) + (on && a[12] === 0 ? USAGE_CYCLE : 0) + (door && a[15] === 0 ? USAGE_DOOR : 0)
    a[15] = door ? 1 : 0
    return u
  },
}

/** Solves rate = a + b·gain + d·on from the accumulated sums (Cramer's rule); returns d. */
function capacitySlope(a: Float64Array): number {
  const n = a[23]!, sx = a[24]!, sz = a[25]!, sxx = a[26]!, sxz = a[27]!, sy = a[28]!, sxy = a[29]!, szy = a[30]!
  const det3 = (m11: number, m12: number, m13: number, m21: number, m22: number, m23: number, m31: number, m32: number, m33: number): number =>
    m11 * (m22 * m33 - m23 * m32) - m12 * (m21 * m33 - m23 * m31) + m13 * (m21 * m32 - m22 * m31)
  const D = det3(n, sx, sz, sx, sxx, sxz, sz, sxz, sz)
  if (Math.abs(D) < 1e-9) return NaN
  return det3(n, sx, sy, sx, sxx, sxy, sz, sxz, szy) / D
}

// ─── air conditioner ────────────────────────────────────────────────────────
// acc: 0 enabledMin, 1 onMin, 2 load-minutes, 3 loadN, 4 curSum, 5 curN, 6 presSum, 7 presN, 8 dtSum, 9 dtN,
//      10 dpSum, 11 dpN, 12 prevOn (carried), 13 onRun (carried), 14 fanRun minutes (carried),
//      19 prevRoom (carried), 20 offRun (carried), 21 repeats, 22 samples, 23–30 capacity regression sums
const airConditioner: Extractor = {
  features: ['duty_cycle', 'running_current_a', 'refrigerant_pressure_bar', 'delta_t_c', 'filter_dp_pa', 'cooling_capacity_c_per_h'],
  accSlots: 31,
  mode: 'time',
  add(a, m, dt, gap) {
    const on = num(m, 'compressor_on') >= 0.5
    const fan = num(m, 'indoor_fan_rpm') > 100
    const out = num(m, 'outdoor_temp_c'), sp = num(m, 'setpoint_c')
    if (gap) { a[13] = 0; a[14] = 0; a[20] = 0 }
    a[13] = on ? a[13]! + 1 : 0
    a[14] = fan ? a[14]! + dt : 0
    a[20] = fan && !on ? a[20]! + 1 : 0
    // Capacity per cycle: the room cools at (capacity − heat gain) while running and warms at the
    // heat gain while off, so their sum is the capacity whatever the weather.
    const room = num(m, 'return_air_temp_c')
    if (!inRange(room, 5, 45)) a[19] = NaN
    else if (Number.isFinite(a[19]!) && dt <= 2 && a[14]! > 120) {
      // A sensor that repeats its exact value is stuck: count it, and distrust a window full of it.
      a[22]! += 1
      if (room === a[19]) a[21]! += 1
      else if ((a[13]! >= 2 || a[20]! >= 2) && inRange(out, -30, 60)) {
        // Least squares of the room's rate of change on the heat gain (outdoor − room) and the
        // compressor state: the state's coefficient is the capacity, free of when in the day
        // (how hot outside) the unit happened to run.
        const x = out - a[19]!, y = (room - a[19]!) / dt, z = a[13]! >= 2 ? 1 : 0
        a[23]! += 1; a[24]! += x; a[25]! += z; a[26]! += x * x; a[27]! += x * z
        a[28]! += y; a[29]! += x * y; a[30]! += z * y
      }
    }
    if (inRange(room, 5, 45)) a[19] = room
    const w = Math.min(dt, 5)
    // The pull-down after the unit is switched on depends on how warm the room got meanwhile,
    // not on the compressor: duty is counted from 2 h after switch-on.
    if (fan && a[14]! > 120 && inRange(out, -30, 60) && inRange(sp, 10, 35)) {
      a[0]! += w
      if (on) a[1]! += w
      // Heat to remove ∝ outdoor − set-point plus internal gains (≈ 1.5 °C); none when it is cool outside.
      a[2]! += w * Math.max(0, out - sp + 1.5)
      a[3]! += 1
      const dp = num(m, 'filter_dp_pa')
      if (inRange(dp, 1, 500)) { a[10]! += dp; a[11]! += 1 }
    }
    if (a[13]! >= 2 && inRange(out, -30, 60)) {
      const cur = num(m, 'compressor_current_a'), p = num(m, 'refrigerant_pressure_bar')
      const dT = num(m, 'return_air_temp_c') - num(m, 'supply_air_temp_c')
      // Datasheet compensation: current and suction pressure rise with outdoor temperature.
      if (inRange(cur, 0.2, 30)) { a[4]! += cur / (1 + 0.015 * (out - 30)); a[5]! += 1 }
      if (inRange(p, 0.5, 30)) { a[6]! += p - 0.05 * (out - 30); a[7]! += 1 }
      if (inRange(dT, -5, 30)) { a[8]! += dT; a[9]! += 1 }
    }
    a[12] = on ? 1 : 0
    return false
  },
  finish(a, out) {
    // Running minutes per unit of heat load (load-minutes), scaled to a 10 °C load.
    out[0] = a[0]! >= 120 && a[1]! >= 30 ? ratio(a[1]! * 10, a[2]!, 60) : NaN
    out[1] = ratio(a[4]!, a[5]!, 10)
    out[2] = ratio(a[6]!, a[7]!, 10)
    out[3] = ratio(a[8]!, a[9]!, 10)
    out[4] = ratio(a[10]!, a[11]!, 10)
    const stuck = a[21]! > 0.1 * a[22]!
    out[5] = !stuck && a[25]! >= 30 && a[23]! - a[25]! >= 30 ? -60 * capacitySlope(a) : NaN
    a.fill(0, 0, 12)
    a.fill(0, 21, 31)
  },
  usage(a, m) {
    const on = num(m, 'compressor_on') >= 0.5
    return (on ? 1 : 0) + (on && a[12] === 0 ? USAGE_CYCLE : 0)
  },
}

// ─── water heater ───────────────────────────────────────────────────────────
// acc: 0 riseSum, 1 riseMin, 2 curSum, 3 curN, 4 anodeSum, 5 anodeN, 6 overSum, 7 overN,
//      8 prevOn, 9 prevTank, 10 prevFlow, 11 sinceOff, 12 peak, 13 setpoint (all carried from 8)
/** Current while heating and anode potential: each reading judged by itself, so late ones fold in too. */
function waterHeaterSums(a: Float64Array, m: Readonly<Record<string, number>>, on: boolean): void {
  if (on) {
    const cur = num(m, 'heater_current_a')
    if (inRange(cur, 0.2, 40)) { a[2]! += cur; a[3]! += 1 }
  }
  const an = num(m, 'anode_mv')
  if (inRange(an, 0, 2000)) { a[4]! += an; a[5]! += 1 }
}

const waterHeater: Extractor = {
  features: ['heat_rate_c_per_h', 'running_current_a', 'anode_mv', 'overshoot_c'],
  accSlots: 14,
  mode: 'time',
  add(a, m, dt, gap) {
    const on = num(m, 'heater_on') >= 0.5
    const tank = num(m, 'tank_temp_c'), flow = num(m, 'flow_l_min'), sp = num(m, 'setpoint_c')
    const ok = inRange(tank, 0, 100)
    if (gap || !ok) { a[8] = 0; a[9] = NaN; a[11] = 1e9 }
    if (ok && on && a[8] === 1 && flow === 0 && a[10] === 0 && dt <= 2 && Number.isFinite(a[9]!)) {
      const d = tank - a[9]!
      // An unchanged reading while heating is a stuck sensor, not a cold element.
      if (d !== 0 && Math.abs(d) < 5 * dt) { a[0]! += d; a[1]! += dt }
    }
    waterHeaterSums(a, m, on)
    // Overshoot: the highest tank temperature within 20 min after the element switches off.
    if (!on && a[8] === 1 && ok) { a[11] = 0; a[12] = tank; a[13] = sp }
    else if (!on && a[11]! < 20 && ok) {
      a[11]! += dt
      if (tank > a[12]!) a[12] = tank
      if (a[11]! >= 20 && inRange(a[13]!, 20, 90)) { a[6]! += a[12]! - a[13]!; a[7]! += 1 }
    } else if (on) a[11] = 1e9
    a[8] = on ? 1 : 0
    a[9] = ok ? tank : NaN
    a[10] = flow > 0 ? 1 : 0
    return false
  },
  late(a, m) {
    waterHeaterSums(a, m, num(m, 'heater_on') >= 0.5)
  },
  finish(a, out) {
    out[0] = a[1]! >= 20 ? (a[0]! / a[1]!) * 60 : NaN
    out[1] = ratio(a[2]!, a[3]!, 10)
    out[2] = ratio(a[4]!, a[5]!, 60)
    out[3] = ratio(a[6]!, a[7]!, 1)
    a.fill(0, 0, 8)
  },
  usage(a, m) {
    const on = num(m, 'heater_on') >= 0.5
    return (on ? 1 : 0) + (on && a[8] === 0 ? USAGE_CYCLE : 0)
  },
}

// ─── washing machine ────────────────────────────────────────────────────────
// Per wash. acc: 0 prevPhase, 1 prevLevel, 2 prevTemp, 3 fillSum, 4 fillMin, 5 heatSum(°C·kg), 6 heatMin,
//   7 drainSum, 8 drainMin, 9 vibSum, 10 vibN, 11 valid, 12 load
const FILL = 1, HEAT = 2, DRAIN = 4, SPIN = 5
const washingMachine: Extractor = {
  features: ['fill_time_s', 'heating_time_s', 'drain_time_s', 'spin_vibration_mm_s'],
  accSlots: 13,
  mode: 'cycle',
  add(a, m, dt, gap, out) {
    const phase = Math.round(num(m, 'phase'))
    const level = num(m, 'water_level_l'), temp = num(m, 'water_temp_c')
    const prev = a[0]!
    // A spike or dropout must not become a step: the next difference starts afresh.
    if (!inRange(level, 0, 40) || !inRange(temp, -5, 100)) { a[1] = NaN; a[2] = NaN }
    if (gap || !inRange(phase, 0, 5)) a[11] = 0
    if (prev === 0 && phase !== 0) {
      a.fill(0, 3, 11)
      a[11] = 1
    }
    if (phase === FILL && prev === FILL && dt <= 2 && Number.isFinite(a[1]! + level)) { a[3]! += level - a[1]!; a[4]! += dt }
    if (phase !== 0) {
      const load = num(m, 'load_kg')
      if (inRange(load, 0, 20)) a[12] = load
    }
    if (phase === HEAT && prev === HEAT && dt <= 2 && Number.isFinite(a[2]! + temp + level)) {
      a[5]! += (temp - a[2]!) * (level + a[12]!)
      a[6]! += dt
    }
    if (phase === DRAIN && prev === DRAIN && dt <= 2 && Number.isFinite(a[1]! + level)) { a[7]! += a[1]! - level; a[8]! += dt }
    // A heavy load shakes more by itself: spin vibration is compared on ordinary loads only.
    if (phase === SPIN && a[12]! <= 7.5) {
      const v = num(m, 'vibration_mm_s')
      if (inRange(v, 0, 50)) { a[9]! += v; a[10]! += 1 }
    }
    a[0] = phase
    if (inRange(level, 0, 40) && inRange(temp, -5, 100)) { a[1] = level; a[2] = temp }
    if (phase === 0 && prev !== 0) {
      const valid = a[11] === 1
      // Seconds to fill / drain 10 L; seconds to heat 10 kg of water and laundry by 10 °C.
      out[0] = valid && a[4]! >= 1 && a[3]! > 0 ? (600 * a[4]!) / a[3]! : NaN
      out[1] = valid && a[6]! >= 1 && a[5]! > 0 ? (6000 * a[6]!) / a[5]! : NaN
      out[2] = valid && a[8]! >= 1 && a[7]! > 0 ? (600 * a[8]!) / a[7]! : NaN
      out[3] = valid && a[10]! >= 2 ? a[9]! / a[10]! : NaN
      a[11] = 0
      return true
    }
    return false
  },
  finish(_a, out) {
    out.fill(NaN)
  },
  usage(a, m) {
    const phase = Math.round(num(m, 'phase'))
    return (phase !== 0 ? 1 : 0) + (phase !== 0 && a[0] === 0 ? USAGE_CYCLE : 0)
  },
}

export const extractors: Readonly<Record<BuiltinType, Extractor>> = {
  refrigerator,
  air_conditioner: airConditioner,
  washing_machine: washingMachine,
  water_heater: waterHeater,
}

/** The built-in feature extractor of a type, if it has one (the shipped types do; data-defined ones do not). */
export function extractorOf(type: string): Extractor | undefined {
  return Object.hasOwn(extractors, type) ? extractors[type as BuiltinType] : undefined
}
