/**
 * Socket-level guards that run before aedes sees a byte: aedes has no maximum packet size and
 * buffers a whole packet before any hook runs, so a 256 MiB PUBLISH would be held in memory.
 * The guard reads only MQTT fixed headers (type byte + Remaining Length, MQTT 3.1.1 §2.2.3) and
 * skips bodies, so its cost does not grow with payload size.
 */
import type { Duplex } from 'node:stream'

const HEADER = 0
const LENGTH = 1
const BODY = 2

/**
 * Wraps `stream.read` (aedes pulls with `read()` on 'readable') so an oversized or malformed
 * length destroys the connection at the first chunk that declares it.
 */
export function guardPacketSize(stream: Duplex, maxPacketBytes: number, onViolation: (declaredBytes: number) => void): void {
  let phase = HEADER
  let len = 0
  let mult = 1
  let lenBytes = 0
  let remaining = 0
  const read = stream.read.bind(stream)

  function scan(buf: Buffer): number {
    let i = 0
    while (i < buf.length) {
      if (phase === BODY) {
        const skip = Math.min(remaining, buf.length - i)
        i += skip
        remaining -= skip
        if (remaining === 0) phase = HEADER
        continue
      }
      const b = buf[i++] as number
      if (phase === HEADER) {
        phase = LENGTH
        len = 0
        mult = 1
        lenBytes = 0
        continue
      }
      len += (b & 0x7f) * mult
      mult *= 128
      lenBytes++
      if (b & 0x80) {
        // MQTT 3.1.1 §2.2.3: at most four bytes of Remaining Length.
        if (lenBytes >= 4) return Number.MAX_SAFE_INTEGER
        continue
      }
      // fixed header (1) + length bytes + body
      if (1 + lenBytes + len > maxPacketBytes) return 1 + lenBytes + len
      remaining = len
      phase = len === 0 ? HEADER : BODY
    }
    return 0
  }

  stream.read = function guardedRead(size?: number) {
    const chunk = read(size) as Buffer | null
    if (chunk === null || stream.destroyed) return chunk
    const bad = scan(chunk)
    if (bad > 0) {
      onViolation(bad)
      stream.destroy()
      return null
    }
    return chunk
  } as typeof stream.read
}

/** Connection attempts per address per second: a token bucket per remote address. */
export function createRateLimiter(perSecond: number, now: () => number = Date.now): { allow(addr: string): boolean; size(): number } {
  const buckets = new Map<string, { tokens: number; at: number }>()
  let lastSweep = now()
  return {
    allow(addr) {
      const t = now()
      if (t - lastSweep > 10_000) {
        for (const [k, v] of buckets) if (t - v.at > 10_000) buckets.delete(k)
        lastSweep = t
      }
      const b = buckets.get(addr)
      if (b === undefined) {
        buckets.set(addr, { tokens: perSecond - 1, at: t })
        return true
      }
      b.tokens = Math.min(perSecond, b.tokens + ((t - b.at) * perSecond) / 1000)
      b.at = t
      if (b.tokens < 1) return false
      b.tokens -= 1
      return true
    },
    size: () => buckets.size,
  }
}
