/**
 * Air conditioner in cooling mode (a warm climate): the room gains heat from outdoors; the
 * compressor removes it while the user has the unit on (day and evening, all day in a heat wave).
 */
import { gauss, hourOfDay, inSpan, weather } from './env.ts'
import { spread, type ModelFactory } from './types.ts'

export const airConditionerModel: ModelFactory = (rand, home) => {
  const capacity = 0.16 * spread(rand, 0.12) // °C/min of room cooling while running
  const gain = 0.006 * spread(rand, 0.15) // °C/min per °C of outdoor − room
  const baseCurrent = 5.5 * spread(rand, 0.12)
  const pressure = 10 * spread(rand, 0.08)
  const deltaT = 11 * spread(rand, 0.1)
  const filterBase = 38 * spread(rand, 0.2)
  const outdoorMean = 27 + rand() * 4
  let setpoint = [22, 23, 24, 25, 26][Math.floor(rand() * 5)] as number
  let room = setpoint + 2
  let on = false
  return {
    step(ts, dt, out, sev, powered) {
      const outdoor = weather(home, ts, outdoorMean, 4, 5)
      const h = hourOfDay(home, ts)
      const wave = inSpan(home.heatWaves, ts) !== undefined
      const enabled = powered && (wave || (h > 7 && h < 23.5))
      if (wave && rand() < dt / (60 * 24 * 3)) setpoint = Math.max(20, setpoint - 1)
      const leakSev = sev('AC-LEAK')
      const cap = capacity * (1 - 0.4 * leakSev)
      if (!enabled) on = false
      else if (room > setpoint + 0.6) on = true
      else if (room < setpoint - 0.6) on = false
      // Compressor wear: the same run removes less heat, so the unit runs longer.
      const effCap = cap * (1 - 0.42 * sev('AC-CMPW'))
      room += dt * (gain * (outdoor - room) + 0.01 - (on ? effCap : 0))
      const current = on ? baseCurrent * (1 + 0.015 * (outdoor - 30)) * (1 + 0.3 * sev('AC-OFAN')) : 0.05
      // Dust builds up slowly in every filter (benign drift); a clog is much faster.
      const dust = ((ts / 86_400_000) % 365) * 0.03
      const fanOn = enabled
      out.return_air_temp_c = room + gauss(rand) * 0.1
      out.supply_air_temp_c = (on ? room - deltaT * (1 - 0.45 * leakSev) : room - 0.5) + gauss(rand) * 0.2
      out.outdoor_temp_c = outdoor + gauss(rand) * 0.15
      out.compressor_current_a = Math.max(0, current + gauss(rand) * 0.08)
      out.compressor_on = on ? 1 : 0
      out.refrigerant_pressure_bar = (on ? pressure + 0.05 * (outdoor - 30) - 4 * leakSev : pressure + 1.5) + gauss(rand) * 0.1
      out.filter_dp_pa = fanOn ? filterBase + dust * 0.1 + 80 * sev('AC-FILTER') + gauss(rand) * 1.5 : 0
      out.indoor_fan_rpm = fanOn ? 1100 + gauss(rand) * 15 : 0
      out.setpoint_c = setpoint
    },
  }
}
