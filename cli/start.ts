/**
 * The composition root: wires broker → ingest → detector → store → API (and the optional
 * InfluxDB sink and simulated fleet). Everything IO lives in the adapters it wires.
 */
import { mkdirSync } from 'node:fs'
import { join, resolve } from 'node:path'
import pino, { type Logger } from 'pino'
import {
  catalogue, topics, type ApplianceType, type DetectorEvent, type HealthCore, type Reading,
} from '../domain/index.ts'
import { createDetector } from '../detectors/index.ts'
import { createIngest, type Ingest } from '../ingest/index.ts'
import { createEmbeddedBroker, type EmbeddedBroker } from '../broker/index.ts'
import { openStore, type Store } from '../api/store/index.ts'
import { buildApi } from '../api/app.ts'
import { defaultTicketPolicy, loadTicketPolicy } from '../api/ticket-policy.ts'
import { dashboardUids } from '../dashboards/common.ts'
import { Registry } from 'prom-client'
import type { TaggedReading, TelemetrySink } from '../ingest/sink.ts'
import { createInfluxSink } from '../ingest/sinks/influx.ts'
import { influxConfigFromEnv } from '../ingest/sinks/influx-config.ts'
import { loadStartConfig, type StartConfig, type StartFlags } from './config.ts'
import { startSimulatedFleet, type SimulatedFleet } from './demo-fleet.ts'
import { deliveryAdaptersFromEnv, startDelivery } from './delivery.ts'

export interface Running {
  config: StartConfig
  apiUrl: string
  mqttUrl: string
  mqttPort: number
  apiPort: number
  adminKey: string | null
  store: Store
  ingest: Ingest
  broker: EmbeddedBroker
  fleet: SimulatedFleet | null
  stats(): RunningStats
  stop(): Promise<void>
}

export interface RunningStats {
  devices: number
  online: number
  readingsPerSec: number
  readings: number
  warnings: number
  tickets: number
}

/** The device-detail dashboard over the episode, as a ticket-policy link template. */
function grafanaTemplate(grafanaUrl: string): string {
  return `${grafanaUrl.replace(/\/+$/, '')}/d/${dashboardUids.device}/forewarn-device-detail?var-device={deviceId}&from={from}&to={to}`
}

interface DeviceInfo { type: ApplianceType; model: string; region: string; revoked: boolean }

export async function startForewarn(config: StartConfig, log: Logger, env: NodeJS.ProcessEnv = {}): Promise<Running> {
  const dataDir = resolve(config.dataDir)
  mkdirSync(dataDir, { recursive: true })
  const adapters = deliveryAdaptersFromEnv(env)
  const policy = env.FOREWARN_TICKET_POLICY ? loadTicketPolicy(env.FOREWARN_TICKET_POLICY) : defaultTicketPolicy
  const ticketPolicy = config.grafanaUrl === null ? policy : { ...policy, grafanaUrlTemplate: grafanaTemplate(config.grafanaUrl) }
  const store = openStore({ dataDir, deliveryAdapters: adapters.map((a) => a.name), publicUrl: config.publicUrl ?? undefined, ticketPolicy })
  const { key: newAdminKey } = store.ensureAdminKey(config.adminKey ?? undefined)
  const detector = createDetector()
  const registry = new Registry()
  const influx = influxConfigFromEnv(env)
  const sink: TelemetrySink | null = influx
    ? await createInfluxSink(influx, { spoolDir: join(dataDir, 'influx-spool'), registry, log: log.child({ part: 'influx' }) })
    : null

  const deviceCache = new Map<string, DeviceInfo>()
  const lookupDevice = (id: string): DeviceInfo | undefined => {
    const cached = deviceCache.get(id)
    if (cached) return cached
    const d = store.getDevice(id)
    if (!d) return undefined
    const info = { type: d.type, model: d.model, region: d.region, revoked: d.revoked }
    deviceCache.set(id, info)
    return info
  }

  let broker: EmbeddedBroker | null = null
  let readings = 0
  const dirtyHealth = new Set<string>()
  const dirtySnapshot = new Set<string>()

  const onDetectorEvents = (events: DetectorEvent[]): void => {
    for (const ev of events) {
      const detectedAt = Date.now()
      const { applied, ticketCreated, ticket } = store.applyDetectorEvent(ev, detectedAt)
      const info = sink && applied ? lookupDevice(ev.deviceId) : undefined
      if (sink && info) {
        sink.writeWarning(ev, info, detectedAt)
        if (ticketCreated && ticket) {
          sink.writeTicketEvent({
            ticketId: ticket.id, deviceId: ev.deviceId, type: info.type, faultCode: ev.faultCode, priority: ticket.priority,
            event: 'opened', state: ticket.state, slaState: 'on_time', atMs: detectedAt,
          })
        }
      }
      if (applied && broker) {
        void broker.publish(topics.warnings(ev.deviceId), Buffer.from(JSON.stringify(ev)), { qos: 1 }).catch((err: unknown) =>
          log.warn({ err, deviceId: ev.deviceId }, 'could not publish warning'))
      }
    }
  }

  const ensureInDetector = (deviceId: string): boolean => {
    if (detector.hasDevice(deviceId)) return true
    const info = lookupDevice(deviceId)
    if (!info) return false
    detector.ensureDevice(deviceId, info.type)
    return true
  }

  const ingest = createIngest({
    dataDir,
    lookupDevice,
    onReadings: (batch: Reading[]) => {
      const tagged: TaggedReading[] | null = sink ? [] : null
      for (const r of batch) {
        if (!ensureInDetector(r.deviceId)) continue
        if (tagged) tagged.push({ reading: r, tags: lookupDevice(r.deviceId) as DeviceInfo })
        const events = detector.process(r)
        if (events.length > 0) onDetectorEvents(events)
        dirtyHealth.add(r.deviceId)
        dirtySnapshot.add(r.deviceId)
      }
      readings += batch.length
      if (sink && tagged && tagged.length > 0) sink.writeReadings(tagged)
    },
    onStatus: (deviceId, state, ts) => store.setConnection(deviceId, state, ts),
    onDeviceEvent: (deviceId, ev) => {
      if (!ensureInDetector(deviceId)) return
      onDetectorEvents(detector.firmwareEvent(deviceId, ev.code, ev.ts, ev.detail))
      dirtyHealth.add(deviceId)
      dirtySnapshot.add(deviceId)
    },
  })
  for (const [deviceId, snapshot] of ingest.loadSnapshots()) {
    const info = lookupDevice(deviceId)
    if (info) detector.ensureDevice(deviceId, info.type, snapshot)
  }
  await ingest.start()

  broker = await createEmbeddedBroker({
    port: config.mqttPort,
    host: config.host,
    logger: log.child({ part: 'broker' }),
    authenticate: async (username, password) => {
      const d = store.verifyDeviceCredentials(username, password)
      return d ? { kind: 'device', deviceId: d.id } : null
    },
    onPublish: async (_principal, deviceId, kind, payload) => {
      // Backpressure: while the sink's buffer is full the PUBACK waits, so devices slow down
      // (their in-flight window fills) instead of readings piling up in memory.
      if (sink?.backpressure) await new Promise<void>((r) => sink.onDrain(r))
      await ingest.accept(deviceId, kind, payload)
    },
  })

  const flushHealth = (): void => {
    const batch: [string, HealthCore][] = []
    for (const id of dirtyHealth) {
      const core = detector.health(id)
      if (core) batch.push([id, core])
    }
    dirtyHealth.clear()
    store.saveHealthBatch(batch)
    if (sink) {
      const now = Date.now()
      for (const [id, core] of batch) {
        const info = lookupDevice(id)
        if (info) sink.writeHealth(id, info, core, core.lastEventTime ?? now)
      }
    }
  }
  const checkpoint = (): void => {
    const snaps: [string, string][] = []
    for (const id of dirtySnapshot) {
      const s = detector.snapshot(id)
      if (s !== undefined) snaps.push([id, s])
    }
    dirtySnapshot.clear()
    ingest.checkpoint(snaps)
  }
  const markSilentOffline = (): void => {
    const now = Date.now()
    for (const d of store.listOnlineDevices()) {
      const limitMs = catalogue[d.type].reportingIntervalS * 1000 * config.offlineAfterIntervals
      if (d.lastSeen !== null && now - d.lastSeen > limitMs) store.setConnection(d.id, 'offline', now)
    }
  }
  const healthTimer = setInterval(flushHealth, config.healthFlushMs)
  const checkpointTimer = setInterval(checkpoint, config.checkpointMs)
  const offlineTimer = setInterval(markSilentOffline, 30_000)

  const app = await buildApi({
    store,
    logger: false,
    publicUrl: config.publicUrl ?? undefined,
    readiness: async () => ({
      broker: { ok: broker !== null },
      ingest: { ok: true, detail: JSON.stringify(ingest.stats()) },
      ...(sink ? { [sink.name]: { ok: sink.state().state !== 'off', detail: JSON.stringify(sink.state()) } } : {}),
    }),
  })
  const apiAddress = await app.listen({ port: config.apiPort, host: config.host })
  const apiPort = Number(new URL(apiAddress).port)
  const apiUrl = config.publicUrl ?? `http://${config.host}:${apiPort}`
  const mqttPort = broker.port
  const mqttUrl = `mqtt://${config.host}:${mqttPort}`
  store.setPublicUrl?.(apiUrl)
  const delivery = startDelivery({ store, adapters, dataDir, log: log.child({ part: 'delivery' }) })

  const fleet = config.simulate > 0
    ? await startSimulatedFleet({ config, dataDir, apiUrl, mqttUrl, store, log: log.child({ part: 'fleet' }) })
    : null

  let lastCount = 0
  let lastAt = Date.now()
  let rate = 0
  const rateTimer = setInterval(() => {
    const now = Date.now()
    rate = ((readings - lastCount) * 1000) / Math.max(1, now - lastAt)
    lastCount = readings
    lastAt = now
  }, 1000)

  let stopped = false
  return {
    config, apiUrl, mqttUrl, mqttPort, apiPort, adminKey: newAdminKey, store, ingest, broker, fleet,
    stats() {
      const c = store.counts()
      return { devices: c.devices, online: c.online, readingsPerSec: Math.round(rate), readings, warnings: c.activeWarnings, tickets: c.tickets }
    },
    async stop() {
      if (stopped) return
      stopped = true
      clearInterval(rateTimer)
      if (fleet) await fleet.stop()
      await broker?.close()
      await delivery.stop()
      await app.close()
      clearInterval(healthTimer)
      clearInterval(checkpointTimer)
      clearInterval(offlineTimer)
      flushHealth()
      checkpoint()
      // close() dispatches what is still committed but unprocessed; those rows are after the
      // last checkpoint, so a restart replays them into the restored detector (effects are idempotent).
      await ingest.close()
      flushHealth()
      await sink?.close()
      store.close()
    },
  }
}

export async function runStart(flags: StartFlags, env: NodeJS.ProcessEnv): Promise<void> {
  const config = loadStartConfig(flags, env)
  const log = pino({ level: env.FOREWARN_LOG_LEVEL ?? 'warn' }, pino.destination(2))
  const running = await startForewarn(config, log, env)
  const out = process.stdout
  out.write(`Forewarn is running\n  API      ${running.apiUrl}  (OpenAPI: ${running.apiUrl}/docs)\n  MQTT     ${running.mqttUrl}\n  data     ${resolve(config.dataDir)}\n`)
  if (running.adminKey) out.write(`  admin API key (shown once, stored hashed): ${running.adminKey}\n`)
  else out.write('  admin API key: from FOREWARN_ADMIN_KEY or issued on first start\n')
  if (running.fleet) out.write(`  simulated fleet: ${config.simulate} appliances, ${config.simulateDays} days of event time in ~${config.simulateCatchUpS}s\n`)
  out.write(`  try: curl -H "Authorization: Bearer <admin key>" ${running.apiUrl}/tickets\n`)
  const line = (): string => {
    const s = running.stats()
    return `devices online ${s.online}/${s.devices} | ${s.readingsPerSec} readings/s | ${s.warnings} active warnings | ${s.tickets} tickets`
  }
  const tty = out.isTTY === true
  const statusTimer = setInterval(() => out.write(tty ? `\r\x1b[2K${line()}` : `${line()}\n`), tty ? 1000 : 10_000)
  let stopping = false
  const shutdown = async (signal: string): Promise<void> => {
    if (stopping) return
    stopping = true
    clearInterval(statusTimer)
    out.write(`${tty ? '\n' : ''}${signal}: shutting down…\n`)
    await running.stop()
    out.write('stopped cleanly\n')
    process.exit(0)
  }
  process.on('SIGINT', () => void shutdown('SIGINT'))
  process.on('SIGTERM', () => void shutdown('SIGTERM'))
}
