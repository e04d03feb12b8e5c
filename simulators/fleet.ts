/**
 * The MQTT fleet runner: every simulated appliance is a real mqtt.js client with its own
 * credentials (client id = device id, persistent session, QoS 1, retained offline will), its own
 * firmware boot counter and sequence number. Signals come from `createSimAppliance`; this file
 * only paces, publishes and counts.
 *
 * Event time never runs ahead of the wall clock: a device whose next reading is not yet due skips
 * the tick, so a fleet started far in the past replays fast and then settles into real time.
 */
import mqtt, { type MqttClient } from 'mqtt'
import { type ApplianceType, topics } from '../domain/index.ts'
import { createSimAppliance, type SimAppliance, type SimFault } from './appliance.ts'

export interface FleetMemberSpec {
  deviceId: string
  username: string
  password: string
  type: ApplianceType
  seed: number
  fault?: SimFault
}

/** A home hub that speaks for several appliances over one connection (broker principal `gateway`). */
export interface FleetGatewaySpec {
  gatewayId: string
  username: string
  password: string
  deviceIds: string[]
}

export interface FleetStats {
  devices: number
  /** MQTT connections up (a gateway counts once for all its devices). */
  connected: number
  /** Readings (not messages): a batch message of 10 readings counts 10. */
  published: number
  acknowledged: number
  failed: number
  inflight: number
  messages: number
  events: number
  finishedDevices: number
}

export interface FleetSummary {
  published: number
  acknowledged: number
  failed: number
  devices: number
  /** Per device, the highest sequence number the broker acknowledged (-1: none). */
  lastSeq: Record<string, number>
  boot: number
}

export interface FleetOptions {
  brokerUrl: string
  members: FleetMemberSpec[]
  startMs: number
  /** Readings SENT per device (lost ones — power cut, dropout — do not count); unbounded when absent. */
  readingsPerDevice?: number
  intervalMs: number
  simMsPerTick?: number
  batchSize?: number
  /** Connections opened per second while ramping up (a gateway is one connection). */
  rampUpPerSec?: number
  /** Members listed behind a gateway publish over its connection instead of their own. */
  gateways?: FleetGatewaySpec[]
  /** A device stops publishing new readings while this many of its messages await PUBACK. */
  maxInflightPerDevice?: number
  /** Firmware boot counter for this run; defaults to wall-clock seconds, so a restart bumps it. */
  boot?: number
  /** The homes' offset from UTC (local hour of their daily routine); default 0. */
  utcOffsetMs?: number
  now?: () => number
  onProgress?: (p: FleetStats) => void
  progressEveryMs?: number
  /** How long stop() waits for outstanding PUBACKs before counting them as failed. */
  drainTimeoutMs?: number
}

export interface FleetHandle {
  stop(): Promise<FleetSummary>
  done: Promise<FleetSummary>
  stats(): FleetStats
}

interface Link {
  clientId: string
  username: string
  password: string
  gateway: FleetGatewaySpec | null
  devices: Device[]
}

interface Device {
  spec: FleetMemberSpec
  sim: SimAppliance
  client: MqttClient | null
  /** Readings taken from the signal model (its clock), sent or not. */
  produced: number
  /** Readings sent: a reading the device never sent used no sequence number. */
  sent: number
  seq: number
  inflight: number
  lastAckedSeq: number
  timer: NodeJS.Timeout | null
  finished: boolean
}

const OFFLINE = '{"v":1,"state":"offline"}'

export function runFleet(opts: FleetOptions): FleetHandle {
  const now = opts.now ?? Date.now
  const batchSize = Math.max(1, opts.batchSize ?? 1)
  const maxInflight = opts.maxInflightPerDevice ?? 8
  const boot = (opts.boot ?? Math.floor(now() / 1000)) >>> 0
  const rampUpPerSec = opts.rampUpPerSec ?? 500
  const limit = opts.readingsPerDevice
  const stats: FleetStats = {
    devices: opts.members.length, connected: 0, published: 0, acknowledged: 0, failed: 0, inflight: 0, messages: 0,
    events: 0, finishedDevices: 0,
  }
  let stopped = false
  /** After the clients are closed, late callbacks no longer count: they were counted as failed. */
  let closed = false
  let resolveDone!: (s: FleetSummary) => void
  const done = new Promise<FleetSummary>((r) => (resolveDone = r))
  const settleWaiters: (() => void)[] = []

  const devices: Device[] = opts.members.map((spec) => ({
    spec,
    sim: createSimAppliance({
      deviceId: spec.deviceId, type: spec.type, seed: spec.seed, startMs: opts.startMs,
      ...(opts.simMsPerTick !== undefined ? { intervalMs: opts.simMsPerTick } : {}),
      ...(opts.utcOffsetMs !== undefined ? { utcOffsetMs: opts.utcOffsetMs } : {}),
      ...(spec.fault ? { fault: spec.fault } : {}),
    }),
    client: null, produced: 0, sent: 0, seq: 0, inflight: 0, lastAckedSeq: -1, timer: null, finished: false,
  }))

  function summary(): FleetSummary {
    const lastSeq: Record<string, number> = {}
    for (const d of devices) lastSeq[d.spec.deviceId] = d.lastAckedSeq
    return { published: stats.published, acknowledged: stats.acknowledged, failed: stats.failed, devices: devices.length, lastSeq, boot }
  }

  function checkSettled(): void {
    if (stats.inflight !== 0) return
    for (const w of settleWaiters.splice(0)) w()
  }

  function finish(d: Device): void {
    if (d.finished) return
    d.finished = true
    stats.finishedDevices++
    if (d.timer) clearTimeout(d.timer)
    d.timer = null
  }

  function publishReadings(d: Device, client: MqttClient): void {
    const readings: { ts: number; seq: number; metrics: Record<string, number> }[] = []
    const t = now()
    while (readings.length < batchSize && (limit === undefined || d.sent < limit)) {
      // Not yet due: the device would be reporting from the future.
      if (opts.startMs + d.produced * d.sim.intervalMs > t) break
      const r = d.sim.next()
      d.produced++
      // A power cut or a dropout: the real device never sent this reading.
      if (r.lost) continue
      readings.push({ ts: Math.min(r.ts, t), seq: d.seq++, metrics: r.metrics })
      d.sent++
    }
    for (const ev of d.sim.drainFirmwareEvents()) {
      const body = ev.detail === undefined ? { v: 1, ts: Math.min(ev.ts, t), code: ev.code } : { v: 1, ts: Math.min(ev.ts, t), code: ev.code, detail: ev.detail }
      stats.events++
      publishKept(client, topics.events(d.spec.deviceId), JSON.stringify(body), () => undefined)
    }
    if (readings.length === 0) return
    const first = readings[0] as (typeof readings)[number]
    const last = readings[readings.length - 1] as (typeof readings)[number]
    const payload = readings.length === 1 && batchSize === 1
      ? JSON.stringify({ v: 1, boot, ts: first.ts, seq: first.seq, metrics: first.metrics })
      : JSON.stringify({ v: 1, boot, readings })
    const n = readings.length
    d.inflight++
    stats.inflight++
    stats.messages++
    stats.published += n
    publishKept(client, topics.telemetry(d.spec.deviceId), payload, (err) => {
      if (closed) return
      d.inflight--
      stats.inflight--
      if (err) stats.failed += n
      else {
        stats.acknowledged += n
        if (last.seq > d.lastAckedSeq) d.lastAckedSeq = last.seq
      }
      checkSettled()
      maybeAllDone()
    })
  }

  /**
   * QoS 1 with the firmware's own guarantee on top: a message MQTT.js gives up on (it fails a
   * publish queued behind its session resend when the connection drops again, e.g. while the
   * broker refuses readings it cannot store) is kept and published again, as a device keeps a
   * reading until it is acknowledged. Only the end of the run (after the drain) ends that.
   */
  function publishKept(client: MqttClient, topic: string, payload: string, done: (err?: Error) => void): void {
    client.publish(topic, payload, { qos: 1 }, (err) => {
      if (err && !closed) {
        setTimeout(() => publishKept(client, topic, payload, done), 500)
        return
      }
      done(err)
    })
  }

  function tick(d: Device): void {
    d.timer = null
    if (stopped || d.finished || d.client === null) return
    if (d.inflight < maxInflight) publishReadings(d, d.client)
    if (limit !== undefined && d.sent >= limit) {
      finish(d)
      maybeAllDone()
      return
    }
    d.timer = setTimeout(tick, opts.intervalMs, d)
  }

  /**
   * One MQTT connection: a device's own (client id = device id, will = its offline status) or a
   * gateway's, carrying every device registered behind it.
   */
  function connect(link: Link): void {
    if (stopped) return
    const own = link.gateway === null ? (link.devices[0] as Device) : null
    const client = mqtt.connect(opts.brokerUrl, {
      clientId: link.clientId, username: link.username, password: link.password,
      clean: false, protocolVersion: 4, keepalive: 60, reconnectPeriod: 1000, connectTimeout: 30_000,
      ...(own ? { will: { topic: topics.status(own.spec.deviceId), payload: Buffer.from(OFFLINE), qos: 1 as const, retain: true } } : {}),
    })
    for (const d of link.devices) d.client = client
    let up = false
    client.on('connect', () => {
      if (!up) stats.connected++
      up = true
      for (const d of link.devices) {
        client.publish(topics.status(d.spec.deviceId), '{"v":1,"state":"online"}', { qos: 1, retain: true })
        if (d.timer === null && !d.finished) d.timer = setTimeout(tick, Math.floor(Math.random() * opts.intervalMs), d)
      }
    })
    client.on('close', () => {
      if (up) stats.connected--
      up = false
    })
    client.on('error', () => {})
  }

  const behindGateway = new Map<string, FleetGatewaySpec>()
  for (const g of opts.gateways ?? []) for (const id of g.deviceIds) behindGateway.set(id, g)
  const links: Link[] = []
  const gatewayLinks = new Map<FleetGatewaySpec, Link>()
  for (const d of devices) {
    const g = behindGateway.get(d.spec.deviceId)
    if (g === undefined) {
      links.push({ clientId: d.spec.deviceId, username: d.spec.username, password: d.spec.password, gateway: null, devices: [d] })
      continue
    }
    let link = gatewayLinks.get(g)
    if (link === undefined) {
      link = { clientId: g.gatewayId, username: g.username, password: g.password, gateway: g, devices: [] }
      gatewayLinks.set(g, link)
      links.push(link)
    }
    link.devices.push(d)
  }

  let ramp: NodeJS.Timeout | null = null
  let next = 0
  const perStep = Math.max(1, Math.ceil(rampUpPerSec / 10))
  const rampStep = (): void => {
    ramp = null
    for (let i = 0; i < perStep && next < links.length; i++) connect(links[next++] as Link)
    if (next < links.length && !stopped) ramp = setTimeout(rampStep, 100)
  }
  rampStep()

  const progress = opts.onProgress
    ? setInterval(() => opts.onProgress?.({ ...stats }), opts.progressEveryMs ?? 1000)
    : null

  let ending: Promise<FleetSummary> | null = null
  function maybeAllDone(): void {
    if (limit === undefined || stats.finishedDevices < devices.length || stats.inflight > 0) return
    void end()
  }

  function end(): Promise<FleetSummary> {
    if (ending) return ending
    stopped = true
    ending = (async () => {
      if (ramp) clearTimeout(ramp)
      for (const d of devices) finish(d)
      if (stats.inflight > 0) {
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, opts.drainTimeoutMs ?? 5000)
          settleWaiters.push(() => {
            clearTimeout(t)
            resolve()
          })
        })
      }
      // A clean DISCONNECT: the broker reports the device offline without its will.
      const force = stats.inflight > 0
      const clients = new Set(devices.map((d) => d.client).filter((c): c is MqttClient => c !== null))
      await Promise.all([...clients].map((c) => new Promise<void>((r) => c.end(force, {}, () => r()))))
      closed = true
      // Whatever is still unacknowledged after the drain timeout is lost for this run.
      stats.failed += stats.inflight
      stats.inflight = 0
      if (progress) clearInterval(progress)
      const s = summary()
      resolveDone(s)
      return s
    })()
    return ending
  }

  return { stop: end, done, stats: () => ({ ...stats }) }
}
