/**
 * Washing machine: the household starts 0–3 washes a day; each runs fill → heat → wash →
 * drain → spin. Fill and drain speed come from the valve and pump, heating speed from the
 * element, spin vibration from the bearings plus the load's imbalance (a heavy or lumpy load
 * shakes more, which is not a fault).
 */
import { gauss, hourOfDay } from './env.ts'
import { spread, type ModelFactory } from './types.ts'

const IDLE = 0, FILL = 1, HEAT = 2, WASH = 3, DRAIN = 4, SPIN = 5

export const washingMachineModel: ModelFactory = (rand, home) => {
  const fillRate = 2.4 * spread(rand, 0.12) // L/min
  const drainRate = 3.6 * spread(rand, 0.12) // L/min
  const heaterKw = 2.0 * spread(rand, 0.05)
  const vibBase = 4 * spread(rand, 0.2)
  const washesPerDay = 0.6 + rand() * 1.4
  let phase = IDLE
  let level = 0
  let temp = 15
  let target = 0
  let targetTemp = 40
  let load = 0
  let imbalance = 0
  let phaseLeft = 0
  let spinRpm = 1200
  return {
    step(ts, dt, out, sev, powered) {
      const h = hourOfDay(home, ts)
      if (!powered) phase = IDLE
      else if (phase === IDLE && h > 7 && h < 22 && rand() < (washesPerDay / (15 * 60)) * dt) {
        // Now and then a heavy load: more water, more imbalance — benign.
        const heavy = rand() < 0.1
        load = heavy ? 8 + rand() * 2 : 2 + rand() * 5
        imbalance = heavy ? 2 + rand() * 4 : rand() * 2.5
        target = 8 + 0.8 * load
        targetTemp = [30, 40, 40, 60][Math.floor(rand() * 4)] as number
        spinRpm = [800, 1000, 1200, 1400][Math.floor(rand() * 4)] as number
        temp = 12 + rand() * 6
        phase = FILL
      }
      const inletVar = 1 + gauss(rand) * 0.03 // mains pressure varies a little
      if (phase === FILL) {
        level += dt * fillRate * inletVar * (1 - 0.6 * sev('WM-INLET'))
        if (level >= target) { level = target; phase = HEAT }
      } else if (phase === HEAT) {
        const rate = (heaterKw * 1000 * 60 * (1 - 0.5 * sev('WM-HEAT'))) / ((level + load) * 4186)
        temp += dt * rate
        if (temp >= targetTemp) { temp = targetTemp; phase = WASH; phaseLeft = 25 + rand() * 25 }
      } else if (phase === WASH) {
        phaseLeft -= dt
        temp -= dt * 0.05
        if (phaseLeft <= 0) phase = DRAIN
      } else if (phase === DRAIN) {
        level -= dt * drainRate * (1 - 0.6 * sev('WM-DRAIN'))
        if (level <= 0) { level = 0; phase = SPIN; phaseLeft = 5 + rand() * 4 }
      } else if (phase === SPIN) {
        phaseLeft -= dt
        if (phaseLeft <= 0) { phase = IDLE; load = 0 }
      }
      const rpm = phase === SPIN ? spinRpm : phase === WASH || phase === HEAT ? 50 : 0
      const vib = phase === SPIN ? (vibBase + imbalance + 8 * sev('WM-BEAR')) * (0.8 + 0.2 * (spinRpm / 1400)) : phase === WASH ? 1 : 0.1
      out.running = phase === IDLE ? 0 : 1
      out.phase = phase
      out.water_level_l = Math.max(0, level + (level > 0 ? gauss(rand) * 0.05 : 0))
      out.water_temp_c = temp + gauss(rand) * 0.15
      out.heater_on = phase === HEAT ? 1 : 0
      out.motor_current_a = phase === SPIN ? 1.8 + load * 0.08 : rpm > 0 ? 0.6 : 0
      out.drum_rpm = rpm
      out.vibration_mm_s = Math.max(0, vib + gauss(rand) * 0.3)
      out.load_kg = load
    },
  }
}
