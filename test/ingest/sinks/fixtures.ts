/** Readings for sink tests: `n` readings spread over `devices` devices, distinct event times per device. */
import type { TaggedReading } from '../../../ingest/sink.ts'

export const T0 = Date.UTC(2026, 0, 1)

export function makeReadings(n: number, devices = 10, offset = 0, t0 = T0): TaggedReading[] {
  const out: TaggedReading[] = []
  for (let k = offset; k < offset + n; k++) {
    const d = k % devices
    const seq = Math.floor(k / devices)
    out.push({
      reading: { deviceId: `dev-${d}`, boot: 1, seq, ts: t0 + seq * 1000 + d, metrics: { cabinet_temp_c: 4 + (k % 7) / 10, compressor_current_a: 1.5 } },
      tags: { type: 'refrigerator', model: 'RF-100', region: d % 2 ? 'north' : 'south' },
    })
  }
  return out
}

export async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await check()) return
    await new Promise((r) => setTimeout(r, 20))
  }
  throw new Error(`timed out waiting for ${what}`)
}
