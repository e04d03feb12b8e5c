/**
 * A sink that keeps the line protocol it is given, in memory: for tests of the parts that feed a
 * sink, and for running the sink contract suite. Same line builders as the InfluxDB sink, no IO.
 */
import type { TelemetrySink } from '../sink.ts'
import { healthLines, pipelineLine, readingLines, ticketLine, warningLine } from './influx-lines.ts'

export interface MemorySink extends TelemetrySink {
  /** Everything written so far, in order. */
  readonly lines: string[]
  /** Lines of one measurement. */
  linesOf(measurement: string): string[]
}

export function createMemorySink(name = 'memory'): MemorySink {
  const lines: string[] = []
  let open = true
  const push = (l: string | null): void => {
    if (open && l !== null) lines.push(l)
  }
  return {
    name,
    lines,
    linesOf: (measurement) => lines.filter((l) => l.startsWith(`${measurement},`)),
    backpressure: false,
    onDrain() {},
    writeReadings(batch) {
      if (open) readingLines(batch, lines)
    },
    writeHealth(deviceId, tags, core, atMs) {
      if (open) healthLines(deviceId, tags, core, atMs, lines)
    },
    writeWarning: (ev, tags, at) => push(warningLine(ev, tags, at)),
    writeTicketEvent: (e) => push(ticketLine(e)),
    writePipeline: (stage, stats, at) => push(pipelineLine(stage, stats, at)),
    state: () => ({ state: open ? 'writing' : 'off', spoolBytes: 0, pending: 0 }),
    flush: async () => {},
    async close() {
      open = false
    },
  }
}
