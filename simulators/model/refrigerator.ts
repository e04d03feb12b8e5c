/**
 * Refrigerator: a thermostat cycles the compressor between set-point ± band. Heat leaks in
 * through the walls and seal (∝ room − cabinet) and with every door opening; the compressor
 * removes heat at a capacity that a refrigerant leak reduces.
 */
import { gauss, hourOfDay, inSpan, weather } from './env.ts'
import { spread, type ModelFactory } from './types.ts'

export const refrigeratorModel: ModelFactory = (rand, home) => {
  const capacity = 0.19 * spread(rand, 0.12) // °C/min of cooling while running
  const leak = 0.0036 * spread(rand, 0.15) // °C/min per °C of room − cabinet
  const baseCurrent = 1.0 * spread(rand, 0.12)
  const condRise = 12 * spread(rand, 0.12)
  const roomMean = 21 + rand() * 4
  const doorsPerDay = 15 + rand() * 30
  const band = 1.2
  let setpoint = [3, 4, 4, 5][Math.floor(rand() * 4)] as number
  const setpointChanges = home.heatWaves.length > 0 && rand() < 0.6 ? [home.heatWaves[0]!.startMs + 3_600_000] : []
  let temp = setpoint
  let evap = -20
  let cond = roomMean
  let on = false
  let onMin = 0
  let doorLeftUntil = 0
  return {
    step(ts, dt, out, sev, powered) {
      if (setpointChanges.length > 0 && ts >= setpointChanges[0]!) {
        setpointChanges.shift()
        setpoint = Math.max(2, Math.min(7, setpoint + (rand() < 0.5 ? -1 : 1) * (1 + Math.floor(rand() * 2))))
      }
      const room = weather(home, ts, roomMean, 2.5, 1) - (inSpan(home.heatWaves, ts)?.value ?? 0) * 0.6
      const h = hourOfDay(home, ts)
      const awake = h > 6.5 && h < 23
      let door = 0
      if (ts < doorLeftUntil) door = 1
      else if (awake && rand() < (doorsPerDay / (16.5 * 60)) * dt) door = 1
      // Rarely the door is left ajar for a while (benign: the user closes it).
      if (awake && doorLeftUntil < ts && rand() < (dt / (60 * 24 * 45))) doorLeftUntil = ts + (20 + rand() * 70) * 60_000
      const seal = sev('REF-DSEAL')
      const leakNow = leak * (1 + 0.8 * seal)
      const cap = capacity * (1 - 0.45 * sev('REF-LEAK'))
      if (!powered) on = false
      else if (temp > setpoint + band + 0.9 * seal) on = true
      else if (temp < setpoint - band + 0.9 * seal) on = false
      temp += dt * (leakNow * (room - temp) + door * 0.25 - (on ? cap : 0))
      onMin = on ? onMin + dt : 0
      const fan = sev('REF-CFAN')
      const rise = condRise + 14 * fan
      cond += on ? Math.min(1, dt * 0.4) * (room + rise - cond) : Math.min(1, dt * 0.15) * (room - cond)
      evap += on ? Math.min(1, dt * 0.5) * (-24 + 0.3 * (temp - setpoint) + 8 * sev('REF-LEAK') - evap) : Math.min(1, dt * 0.12) * (temp - evap)
      const current = on
        ? baseCurrent * (1 + 0.3 * sev('REF-CMPW')) * (1 + 0.02 * (cond - room - condRise)) * (onMin <= dt ? 1.4 : 1)
        : 0.02
      out.cabinet_temp_c = temp + gauss(rand) * 0.08
      out.freezer_temp_c = -18 + 0.6 * (temp - setpoint) + gauss(rand) * 0.15
      out.evaporator_temp_c = evap + gauss(rand) * 0.2
      out.condenser_temp_c = cond + gauss(rand) * 0.2
      out.compressor_current_a = Math.max(0, current + gauss(rand) * 0.02)
      out.compressor_on = on ? 1 : 0
      out.door_open = door
      out.ambient_temp_c = room + gauss(rand) * 0.1
      out.setpoint_c = setpoint
    },
  }
}
