import { describe, expect, it } from 'vitest'
import { consoleTelemetryFromEnv } from '../../cli/console-telemetry.ts'

const typeOf = () => 'refrigerator' as const

describe('where the console charts read', () => {
  it('keeps the embedded window by default, none with 0, and refuses a bad span', async () => {
    const def = consoleTelemetryFromEnv({}, null, typeOf)
    def.add([{ deviceId: 'ref-a', boot: 1, seq: 1, ts: 1_800_000_000_000, metrics: { cabinet_temp_c: 3 } }])
    expect((await def.source!.recent('ref-a', 'refrigerator'))?.bucketMs).toBe(3 * 3_600_000)
    expect(consoleTelemetryFromEnv({ FOREWARN_CONSOLE_WINDOW_HOURS: '0' }, null, typeOf)).toMatchObject({ window: null, source: null })
    expect(() => consoleTelemetryFromEnv({ FOREWARN_CONSOLE_WINDOW_HOURS: 'lots' }, null, typeOf)).toThrow(/FOREWARN_CONSOLE_WINDOW_HOURS/)
    const influx = consoleTelemetryFromEnv({}, { api: 'v1', url: 'http://127.0.0.1:1', database: 'x', username: null, password: null }, typeOf)
    expect([influx.window, influx.source === null]).toEqual([null, false])
  })
})
