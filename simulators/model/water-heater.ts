/**
 * Electric storage water heater: the thermostat switches the element on below set-point −
 * hysteresis; hot-water draws cool the tank with cold inlet water; thermal lag carries the
 * tank past the cut-out point (overshoot), more so when the thermostat drifts.
 */
import { gauss, hourOfDay, inSpan, weather } from './env.ts'
import { spread, type ModelFactory } from './types.ts'

export const waterHeaterModel: ModelFactory = (rand, home) => {
  const volume = [50, 80, 100][Math.floor(rand() * 3)] as number
  const elementA = 8.7 * spread(rand, 0.05)
  const anodeBase = 720 * spread(rand, 0.1)
  const lossPerMin = 0.0009 * spread(rand, 0.2)
  let setpoint = [50, 55, 60, 65][Math.floor(rand() * 4)] as number
  const changesSetpoint = rand() < 0.5
  let tank = setpoint - 2
  let on = false
  let lag = 0
  let drawLeft = 0
  let drawRate = 0
  return {
    step(ts, dt, out, sev, powered) {
      if (changesSetpoint && setpoint !== 60 && rand() < dt / (60 * 24 * 30)) setpoint = 60 // the user turns it up once
      const inlet = weather(home, ts, 13, 5, 0.3) - (inSpan(home.heatWaves, ts)?.value ?? 0) * 0.7
      const h = hourOfDay(home, ts)
      const busy = (h > 6 && h < 9) || (h > 18 && h < 22.5)
      if (drawLeft <= 0 && rand() < dt * (busy ? 0.012 : 0.0012)) {
        drawLeft = 1 + rand() * 6
        drawRate = 3 + rand() * 5
      }
      const flow = drawLeft > 0 ? drawRate : 0
      drawLeft -= dt
      const drift = 6 * sev('WH-THERM')
      if (!powered) on = false
      else if (tank < setpoint - 6) on = true
      else if (tank >= setpoint + 0.3 + drift) {
        if (on) lag = 1.0
        on = false
      }
      const elem = 1 - 0.45 * sev('WH-ELEM')
      const current = on ? elementA * elem : 0
      // Scaling insulates the element: less of its power reaches the water.
      const power = current * 230 * (1 - 0.45 * sev('WH-SCALE'))
      const heat = (power * 60) / (volume * 4186) // °C/min
      const lagHeat = Math.min(lag, 0.25 * dt)
      lag -= lagHeat
      tank += dt * (heat - lossPerMin * (tank - 20)) + lagHeat - Math.min(1, (dt * flow) / volume) * (tank - inlet)
      out.tank_temp_c = tank + gauss(rand) * 0.1
      out.inlet_temp_c = inlet + gauss(rand) * 0.1
      out.heater_on = on ? 1 : 0
      out.heater_current_a = Math.max(0, current + gauss(rand) * 0.05)
      out.flow_l_min = flow
      out.anode_mv = anodeBase - 380 * sev('WH-ANODE') - (ts / 86_400_000 % 365) * 0.08 + gauss(rand) * 4
      out.setpoint_c = setpoint
    },
  }
}
