/**
 * The load generator (a child process of `forewarn bench`): simulated appliances as raw MQTT
 * connections publishing telemetry at QoS 1, closed loop (a window of unacknowledged messages per
 * device: the fastest rate the broker sustains) or open loop (a fixed rate), plus an optional
 * subscriber that counts what the broker relays. Payloads are real simulator readings, rounded
 * as firmware would send them, so every broker sees the same ~150-byte messages.
 */
import { applianceTypes, catalogue, topics, type BuiltinType } from '../../domain/index.ts'
import { createSimAppliance } from '../../simulators/appliance.ts'
import { serveRpc, wallMs } from './rpc.ts'
import { WireConnection, encodePublish, topicField } from './wire.ts'

export interface BenchDevice { id: string; type: BuiltinType; username?: string; password?: string }

interface Dev {
  id: string
  conn: WireConnection
  topic: Buffer
  ring: readonly string[]
  ringAt: number
  seq: number
  ts: number
  inflight: number
  nextId: number
  sent: Float64Array | null
}

const RING = 256
const ID_SPACE = 1024
const EVENT_TIME_STEP_MS = 60_000

/** Metrics objects of one appliance of each type, as compact JSON with 2 decimals. */
function buildRings(): Record<BuiltinType, string[]> {
  const rings = {} as Record<BuiltinType, string[]>
  for (const type of applianceTypes) {
    const sim = createSimAppliance({ deviceId: 'bench', type, seed: 7, startMs: Date.UTC(2026, 0, 1) })
    const ring: string[] = []
    for (let i = 0; i < RING; i++) {
      const m = sim.next().metrics
      for (const k of Object.keys(m)) m[k] = Math.round((m[k] as number) * 100) / 100
      ring.push(JSON.stringify(m))
    }
    rings[type] = ring
  }
  return rings
}

const rings = buildRings()
let devs: Dev[] = []
let sub: WireConnection | null = null
const counts = { published: 0, acked: 0, received: 0, skipped: 0, payloadBytes: 0, refused: 0 }
let running = false
let mode: 'closed' | 'open' = 'closed'
let window = 16
let latencies: number[] | null = null
let openTimer: NodeJS.Timeout | null = null
let eventTimer: NodeJS.Timeout | null = null
const eventSends: { deviceId: string; t: number }[] = []
let sendEvent: () => void = () => {}
let pendingEvents: () => number = () => 0

function publishOne(d: Dev): void {
  const payload = `{"v":1,"boot":0,"ts":${d.ts},"seq":${d.seq},"metrics":${d.ring[d.ringAt] as string}}`
  d.ringAt = (d.ringAt + 1) % RING
  d.seq++
  d.ts += EVENT_TIME_STEP_MS
  const id = d.nextId
  d.nextId = (d.nextId % ID_SPACE) + 1
  if (d.sent) d.sent[id] = performance.now()
  d.inflight++
  counts.published++
  counts.payloadBytes += payload.length
  d.conn.write(encodePublish(d.topic, id, payload))
}

function onAck(d: Dev, id: number): void {
  d.inflight--
  counts.acked++
  if (d.sent && latencies) {
    const t = d.sent[id] as number
    // 0: published before sampling started.
    if (t > 0) latencies.push(performance.now() - t)
    d.sent[id] = 0
  }
  if (running && mode === 'closed') publishOne(d)
}

interface ConnectParams {
  host: string
  port: number
  devices: BenchDevice[]
  /** Topic filter of one counting subscriber, if any. */
  subscribe?: string
  concurrency?: number
}

async function connect(p: ConnectParams): Promise<{ connected: number; refused: number; ms: number }> {
  const t0 = performance.now()
  if (p.subscribe !== undefined) {
    sub = new WireConnection(p.host, p.port, { onPublish: () => { counts.received++ } })
    const code = await sub.connect(`bench-sub-${process.pid}`)
    if (code !== 0) throw new Error(`subscriber refused (CONNACK ${code})`)
    await sub.subscribe(p.subscribe)
  }
  // Event time starts far enough back that the fastest run never reaches the present.
  const startTs = Date.now() - 60 * 86_400_000
  const out: Dev[] = new Array(p.devices.length)
  let next = 0
  let refused = 0
  const worker = async (): Promise<void> => {
    while (next < p.devices.length) {
      const i = next++
      const b = p.devices[i] as BenchDevice
      const d: Dev = {
        id: b.id, conn: null as unknown as WireConnection, topic: topicField(topics.telemetry(b.id)), ring: rings[b.type],
        ringAt: i % RING, seq: 0, ts: startTs + (i % 1000), inflight: 0, nextId: 1, sent: null,
      }
      d.conn = new WireConnection(p.host, p.port, { onPuback: (id) => onAck(d, id) })
      const code = await d.conn.connect(b.id, b.username, b.password)
      if (code !== 0) refused++
      out[i] = d
    }
  }
  await Promise.all(Array.from({ length: Math.min(p.concurrency ?? 100, p.devices.length) }, worker))
  devs = out
  counts.refused = refused
  return { connected: out.length - refused, refused, ms: performance.now() - t0 }
}

interface StartParams {
  mode: 'closed' | 'open'
  window: number
  ratePerSec?: number
  /** Only the first this many devices publish telemetry (default: all). */
  telemetryDevices?: number
}

function start(p: StartParams): null {
  mode = p.mode
  window = p.window
  running = true
  const active = devs.slice(0, p.telemetryDevices ?? devs.length)
  if (p.mode === 'closed') {
    for (const d of active) while (d.inflight < window) publishOne(d)
    return null
  }
  const rate = p.ratePerSec ?? 1000
  const t0 = performance.now()
  let sent = 0
  let rr = 0
  openTimer = setInterval(() => {
    const due = Math.floor(((performance.now() - t0) * rate) / 1000) - sent
    for (let k = 0; k < due; k++) {
      const d = active[rr] as Dev
      rr = (rr + 1) % active.length
      sent++
      if (d.inflight >= window) counts.skipped++
      else publishOne(d)
    }
  }, 2)
  return null
}

/** From now on: PUBLISH → PUBACK times, and firmware error codes on `devices`, one each, `everyMs` apart. */
function sample(p: { events: BenchDevice[]; everyMs: number }): null {
  latencies = []
  counts.skipped = 0
  for (const d of devs) d.sent ??= new Float64Array(ID_SPACE + 1)
  const byId = new Map(devs.map((d) => [d.id, d]))
  let i = 0
  sendEvent = () => {
    if (i >= p.events.length) return
    const b = p.events[i++] as BenchDevice
    const d = byId.get(b.id)
    if (!d) return
    const code = (catalogue[b.type].firmwareCodes[0] as { code: string }).code
    eventSends.push({ deviceId: b.id, t: wallMs() })
    ;(d.sent as Float64Array)[d.nextId] = performance.now()
    d.inflight++
    d.conn.write(encodePublish(topicField(topics.events(b.id)), d.nextId, JSON.stringify({ v: 1, ts: Date.now(), code, detail: 'bench' })))
    d.nextId = (d.nextId % ID_SPACE) + 1
  }
  pendingEvents = () => p.events.length - i
  eventTimer = setInterval(() => sendEvent(), p.everyMs)
  return null
}

async function stop(): Promise<{ latenciesMs: number[]; events: { deviceId: string; t: number }[]; skipped: number }> {
  running = false
  if (openTimer) clearInterval(openTimer)
  if (eventTimer) clearInterval(eventTimer)
  openTimer = eventTimer = null
  // Timers drift: faults not yet injected go now, so every run injects the same number.
  while (pendingEvents() > 0) sendEvent()
  const deadline = performance.now() + 10_000
  while (devs.some((d) => d.inflight > 0 && !d.conn.closed) && performance.now() < deadline) await new Promise((r) => setTimeout(r, 20))
  const out = { latenciesMs: latencies ?? [], events: eventSends.splice(0), skipped: counts.skipped }
  latencies = null
  counts.skipped = 0
  return out
}

/** Every device publishes `n` readings (window 1) and waits for each PUBACK. */
async function publishEach(p: { n: number }): Promise<{ acked: number }> {
  const before = counts.acked
  for (let k = 0; k < p.n; k++) {
    for (const d of devs) if (!d.conn.closed) publishOne(d)
    const deadline = performance.now() + 60_000
    while (devs.some((d) => d.inflight > 0 && !d.conn.closed) && performance.now() < deadline) await new Promise((r) => setTimeout(r, 10))
  }
  return { acked: counts.acked - before }
}

async function disconnect(): Promise<null> {
  const all = devs.map((d) => d.conn)
  if (sub) all.push(sub)
  devs = []
  sub = null
  for (let i = 0; i < all.length; i += 500) await Promise.all(all.slice(i, i + 500).map((c) => c.close()))
  return null
}

serveRpc({
  connect,
  start,
  sample,
  stop,
  publishEach,
  disconnect,
  counters: () => ({
    t: wallMs(), ...counts, open: devs.filter((d) => !d.conn.closed).length,
    meanPayloadBytes: counts.published > 0 ? counts.payloadBytes / counts.published : 0,
  }),
  clock: () => wallMs(),
})
