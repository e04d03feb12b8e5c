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

/**
 * An HTTP endpoint that answers InfluxDB 1.x writes (POST /write → 204, or `status` while set) and
 * keeps the lines it accepted: for a sink that cannot be handed a fake writer (its worker thread).
 */
export interface FakeInfluxHttp {
  url: string
  lines: string[]
  /** Answer every write with this status instead of storing it (null: accept). */
  status: number | null
  close(): Promise<void>
}

export async function fakeInfluxHttp(): Promise<FakeInfluxHttp> {
  const { createServer } = await import('node:http')
  const state: Omit<FakeInfluxHttp, 'url' | 'close'> = { lines: [], status: null }
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      if (state.status !== null) {
        res.writeHead(state.status).end('{"error":"unavailable"}')
        return
      }
      if (req.url?.startsWith('/write')) state.lines.push(...Buffer.concat(chunks).toString('utf8').split('\n').filter((l) => l !== ''))
      res.writeHead(204).end()
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  return Object.assign(state, {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections()
      server.close(() => resolve())
    }),
  })
}
