/** Feeds readings to a sink the way ingest does: in chunks, pausing while it asks for backpressure. */
import type { TelemetrySink } from '../../../ingest/sink.ts'
import { makeReadings } from './fixtures.ts'

export async function stream(sink: TelemetrySink, opts: { from: number; count: number; devices: number; chunk: number; spanMs: number }): Promise<void> {
  const chunks = Math.ceil(opts.count / opts.chunk)
  const gapMs = chunks > 1 ? opts.spanMs / chunks : 0
  for (let i = 0; i < chunks; i++) {
    if (sink.backpressure) await new Promise<void>((resolve) => sink.onDrain(resolve))
    const n = Math.min(opts.chunk, opts.count - i * opts.chunk)
    sink.writeReadings(makeReadings(n, opts.devices, opts.from + i * opts.chunk))
    if (gapMs > 0) await new Promise((r) => setTimeout(r, gapMs))
  }
}

/** How long the database is down in the outage tests; the 30 s with FOREWARN_OUTAGE_MS=30000. */
export const outageMs = Number(process.env.FOREWARN_OUTAGE_MS ?? 5_000)
