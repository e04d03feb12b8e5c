/**
 * Where the console's charts read recent telemetry (docs/console.md): the recent window in the
 * records store by default, sized by FOREWARN_CONSOLE_WINDOW_HOURS (default 504: 21 days of
 * 3-hour means; 0 turns it off), or InfluxDB when it is configured, since it holds every reading
 * anyway.
 */
import { ErrorCode, ForewarnError } from '../domain/index.ts'
import {
  createStoredTelemetry, createWindowBuffer, DEFAULT_WINDOW_HOURS, windowFor, type TelemetrySource, type WindowBuffer, type WindowReader, type WindowShape,
} from '../api/console/telemetry.ts'
import { createInfluxTelemetry } from '../api/console/influx-telemetry.ts'
import type { InfluxConfig } from '../ingest/sinks/influx-config.ts'

export interface ConsoleTelemetry {
  /** What the pipeline writes to the store with the health records; null when InfluxDB answers or the window is off. */
  window: { buffer: WindowBuffer; shape: WindowShape } | null
  source: TelemetrySource | null
}

export function consoleTelemetryFromEnv(env: NodeJS.ProcessEnv, influx: InfluxConfig | null, store: WindowReader): ConsoleTelemetry {
  const raw = env.FOREWARN_CONSOLE_WINDOW_HOURS
  const hours = raw === undefined || raw.trim() === '' ? DEFAULT_WINDOW_HOURS : Number(raw)
  if (!Number.isInteger(hours) || hours < 0 || hours > 24 * 90) {
    throw new ForewarnError(ErrorCode.CONFIG, `FOREWARN_CONSOLE_WINDOW_HOURS must be a whole number of hours from 0 to 2160, not ${raw}`)
  }
  if (influx !== null) return { window: null, source: createInfluxTelemetry(influx, windowFor(hours === 0 ? DEFAULT_WINDOW_HOURS : hours)) }
  if (hours === 0) return { window: null, source: null }
  const shape = windowFor(hours)
  return { window: { buffer: createWindowBuffer(shape), shape }, source: createStoredTelemetry(store, shape) }
}
