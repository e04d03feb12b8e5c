import { describe, expect, it } from 'vitest'
import { consoleTelemetryFromEnv } from '../../cli/console-telemetry.ts'

const store = { recentWindow: () => [] }

describe('where the console charts read', () => {
  it('keeps the stored window by default, none with 0, InfluxDB when configured, and refuses a bad span', () => {
    const def = consoleTelemetryFromEnv({}, null, store)
    expect(def.window?.shape).toEqual({ bucketMs: 3 * 3_600_000, buckets: 168 })
    expect(def.source).not.toBeNull()
    expect(consoleTelemetryFromEnv({ FOREWARN_CONSOLE_WINDOW_HOURS: '0' }, null, store)).toEqual({ window: null, source: null })
    expect(consoleTelemetryFromEnv({ FOREWARN_CONSOLE_WINDOW_HOURS: '24' }, null, store).window?.shape).toEqual({ bucketMs: 3_600_000, buckets: 24 })
    expect(() => consoleTelemetryFromEnv({ FOREWARN_CONSOLE_WINDOW_HOURS: 'lots' }, null, store)).toThrow(/FOREWARN_CONSOLE_WINDOW_HOURS/)
    const influx = consoleTelemetryFromEnv({}, { api: 'v1', url: 'http://127.0.0.1:1', database: 'x', username: null, password: null }, store)
    expect([influx.window, influx.source === null]).toEqual([null, false])
  })
})
