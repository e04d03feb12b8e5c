/**
 * The composition root: wires broker → ingest → pipeline (detector → records store) → API, plus
 * the optional InfluxDB sink, ticket delivery and simulated fleet. Everything IO lives in the
 * adapters it wires; `cli/pipeline.ts` holds the ordering and checkpoint rules.
 */
import { readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import pino, { type Logger } from 'pino'
import { collectDefaultMetrics, Registry } from 'prom-client'
import { createCatalogueDetector } from '../detectors/catalogue-detector.ts'
import { ErrorCode, ForewarnError } from '../domain/index.ts'
import { createIngest, type Ingest } from '../ingest/index.ts'
import { createEmbeddedBroker, type EmbeddedBroker } from '../broker/index.ts'
import { openConfiguredStore, type AsyncRecordsStore } from '../api/store/open.ts'
import { buildApi } from '../api/app.ts'
import { defaultTicketPolicy, loadTicketPolicy } from '../api/ticket-policy.ts'
import { onRepairActions } from '../api/services/lifecycle.ts'
import { dashboardUids } from '../dashboards/common.ts'
import type { TelemetrySink } from '../ingest/sink.ts'
import { createInfluxSink } from '../ingest/sinks/influx.ts'
import { createInfluxThreadSink } from '../ingest/sinks/influx-thread.ts'
import { influxConfigFromEnv } from '../ingest/sinks/influx-config.ts'
import { apiUsesTls, isLoopback, loadStartConfig, type StartConfig, type StartFlags } from './config.ts'
import { restrictDataDir } from './data-dir.ts'
import { startSimulatedFleet, type SimulatedFleet } from './demo-fleet.ts'
import { deliveryAdaptersFromEnv, startDelivery } from './delivery.ts'
import { createPipeline, type Pipeline } from './pipeline.ts'
import { installCatalogueDir } from './catalogue.ts'
import { createFleetModels, type FleetModels } from './fleet-models.ts'
import {
  externalBrokerConfigFromEnv, startExternalBroker, withBrokerProvisioning, type ExternalBroker, type ExternalBrokerConfig,
} from './external-broker.ts'
import { createPipelineMetrics, registerClusterMetrics, registerClusterViewMetrics, registerIngestMetrics, registerStoreMetrics } from './metrics.ts'
import { startInfluxReporting } from './influx-reporting.ts'
import { authenticatePrincipal, gatewayChanged, gatewayConnectionControl } from './gateways.ts'
import { consoleTelemetryFromEnv } from './console-telemetry.ts'
import { startClusterNode, type ClusterNode, type Role } from '../cluster/index.ts'
import { startWorker, type Worker } from '../cluster/worker.ts'
import { startRegistryBus, withRegistryBus, type RegistryBus, type RegistryChange } from '../cluster/registry-bus.ts'

/**
 * What one process runs. Without --cluster: everything. In a cluster, `--roles` decides
 * (docs/scaling.md): `edge` is the MQTT broker and ingest to the stream, `worker` the partitions
 * and their detectors, `api` the HTTP API, console and ticket delivery. A process without a role
 * opens none of its port: reading `apiUrl`/`apiPort` without `api`, or `mqttUrl`/`mqttPort`
 * without `edge`, throws.
 */
export interface Running {
  config: StartConfig
  /** What engine-watched types learnt from their fleet (refresh() relearns every type's normal now). */
  fleetModels: FleetModels
  apiUrl: string
  mqttUrl: string
  mqttPort: number
  apiPort: number
  adminKey: string | null
  store: AsyncRecordsStore
  ingest: Ingest
  /** Null when running against an external broker (`external`). */
  broker: EmbeddedBroker | null
  external: ExternalBroker | null
  /** Null without --cluster (one process, no NATS). */
  cluster: ClusterNode | null
  /** This process's cluster worker (role `worker`), null otherwise. */
  worker: Worker | null
  fleet: SimulatedFleet | null
  metrics: Registry
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

/**
 * The API's view of the store: revoking or rotating a device's credentials also disconnects it
 * at once (the old secret no longer authenticates, so it cannot come back with it). Gateways: see
 * ./gateways.ts.
 */
function withConnectionControl(store: AsyncRecordsStore, broker: EmbeddedBroker, pipeline: Pipeline): AsyncRecordsStore {
  return new Proxy(store, {
    get(target, prop, receiver) {
      const forGateway = gatewayConnectionControl(target, broker, pipeline, prop)
      if (forGateway) return forGateway
      if (prop === 'revokeDevice') {
        return async (id: string) => {
          const device = await target.revokeDevice(id)
          pipeline.remember(device)
          broker.disconnectDevice(id)
          // Its gateway reconnects without it.
          if (device.gatewayId !== null) gatewayChanged(target, broker, device.gatewayId)
          return device
        }
      }
      if (prop === 'rotateCredentials') {
        return async (id: string) => {
          const credentials = await target.rotateCredentials(id)
          broker.disconnectDevice(id)
          return credentials
        }
      }
      const value: unknown = Reflect.get(target, prop, receiver)
      return typeof value === 'function' ? value.bind(target) : value
    },
  })
}

/**
 * An edge's side of the registry bus (cluster/registry-bus.ts): what withConnectionControl and
 * ./gateways.ts do on the edge whose API took the call, done on this edge for a change made
 * through another process's API.
 */
function applyRegistryChange(store: AsyncRecordsStore, broker: () => EmbeddedBroker | null, pipeline: Pipeline): (c: RegistryChange) => void {
  return (c) => {
    const b = broker()
    if (c.kind === 'gateway.changed') {
      if (b) gatewayChanged(store, b, c.gatewayId)
      return
    }
    if (c.kind === 'device.revoked') {
      // Ingest refuses a revoked device's readings (from a gateway too) as soon as the cache says so.
      const known = pipeline.lookupDevice(c.deviceId)
      if (known) pipeline.remember({ id: c.deviceId, ...known, revoked: true })
      if (b && c.gatewayId !== null) gatewayChanged(store, b, c.gatewayId)
    }
    b?.disconnectDevice(c.deviceId)
  }
}

/** /readyz: not ready while records-store writes fail, with what fails since when. */
function recordsReadiness(pipeline: Pipeline): { ok: boolean; state: string; detail: string } {
  const o = pipeline.storeOutage()
  if (o === null) return { ok: true, state: 'writes succeed', detail: 'records-store writes succeed' }
  return {
    ok: false,
    state: 'records-store writes failing and retried; checkpoints held',
    detail: `records-store writes failing since ${new Date(o.since).toISOString()} (${o.retries} retries; ${o.op}: ${o.error}); `
      + `${o.retriable ? 'retrying with backoff' : 'not known to be transient, retrying slowly'}; checkpoints held, readings wait in the journal`,
  }
}

export async function startForewarn(config: StartConfig, log: Logger, env: NodeJS.ProcessEnv = {}): Promise<Running> {
  // Validated before anything is opened, so a configuration error leaves nothing running.
  const catalogueFiles = installCatalogueDir(config.catalogueDir)
  if (catalogueFiles.length > 0) log.info({ files: catalogueFiles.map((f) => f.file) }, 'machine catalogue files loaded')
  const externalConfig = config.brokerUrl === null ? null : externalBrokerConfigFromEnv(config.brokerUrl, env)
  const dataDir = resolve(config.dataDir)
  const hasEdge = config.cluster === null || config.roles.includes('edge')
  const hasApi = config.cluster === null || config.roles.includes('api')
  if (config.cluster !== null && !env.DATABASE_URL) {
    throw new ForewarnError(ErrorCode.CONFIG, '--cluster (FOREWARN_CLUSTER) needs PostgreSQL as the records store all processes share: set DATABASE_URL')
  }
  restrictDataDir(dataDir)
  const adapters = deliveryAdaptersFromEnv(env)
  const policy = env.FOREWARN_TICKET_POLICY ? loadTicketPolicy(env.FOREWARN_TICKET_POLICY) : defaultTicketPolicy
  const ticketPolicy = config.grafanaUrl === null ? policy : { ...policy, grafanaUrlTemplate: grafanaTemplate(config.grafanaUrl) }
  const store = await openConfiguredStore({
    databaseUrl: env.DATABASE_URL ?? null, dataDir, deliveryAdapters: adapters.map((a) => a.name), publicUrl: config.publicUrl ?? undefined, ticketPolicy,
  })
  const { key: newAdminKey } = await store.ensureAdminKey(config.adminKey ?? undefined)
  const metrics = new Registry()
  collectDefaultMetrics({ register: metrics })
  const influx = influxConfigFromEnv(env)
  const sink: TelemetrySink | null = influx
    // In a worker thread, unless FOREWARN_INFLUX_INLINE=1 asks for the event loop (for comparison: docs/influxdb.md).
    ? await (env.FOREWARN_INFLUX_INLINE === '1' ? createInfluxSink : createInfluxThreadSink)(influx, { spoolDir: join(dataDir, 'influx-spool'), registry: metrics, log: log.child({ part: 'influx' }) })
    : null
  // Shipped appliance types: the appliance detector; data-defined types: the detection engine.
  const detector = createCatalogueDetector()
  const fleetModels = createFleetModels({ store, detector, log: log.child({ part: 'fleet-models' }), config: { refreshMs: config.modelRefreshMs } })
  await fleetModels.load()

  // In a cluster the edge commits readings to the stream and workers consume them from there
  // (docs/scaling.md); without one, ingest hands committed readings to this process's pipeline.
  const cluster = config.cluster === null ? null : await startClusterNode({
    urls: config.cluster, roles: config.roles, settings: { leaseTtlMs: config.clusterLeaseTtlMs }, log: log.child({ part: 'cluster' }),
  })
  let broker: EmbeddedBroker | null = null
  let external: ExternalBroker | null = null
  // The console's recent-telemetry window: the pipeline writes it with the health records (docs/console.md).
  const consoleTelemetry = consoleTelemetryFromEnv(env, influx, store)
  const pipeline = createPipeline({
    store, detector, sink, log, offlineAfterIntervals: config.offlineAfterIntervals, metrics: createPipelineMetrics(metrics),
    // One process: the window follows the checkpoints (see checkpoint() below). A cluster worker
    // writes it with the health records (docs/console.md says what that costs on a take-over).
    window: consoleTelemetry.window && { ...consoleTelemetry.window, afterCheckpoint: config.cluster === null },
    publish: (topic, payload) => {
      // In a cluster every edge publishes it, wherever the raising worker runs (docs/scaling.md).
      if (cluster) return Promise.resolve(cluster.publishOut(topic, payload))
      return broker ? broker.publish(topic, payload, { qos: 1 }) : external ? external.publish(topic, payload) : Promise.resolve()
    },
  })
  registerStoreMetrics(metrics, () => pipeline.storeOutage())
  await pipeline.preload()
  // Followed from before the broker accepts connections, so no change made after this edge
  // authenticates a connection can pass it by. Embedded broker only: an external broker is one
  // shared broker, which its provisioning already tells (./external-broker.ts).
  const registryBus: RegistryBus | null = cluster === null || config.brokerUrl !== null ? null : await startRegistryBus({
    node: cluster, log: log.child({ part: 'registry-bus' }),
    ...(cluster.has('edge') ? { apply: applyRegistryChange(store, () => broker, pipeline) } : {}),
  })

  // Only an edge accepts readings: a process without one keeps ingest's (empty) journal in
  // memory, so it leaves no journal file in its data directory.
  const ingest = createIngest({
    dataDir: hasEdge ? dataDir : null,
    lookupDevice: pipeline.lookupDevice,
    onReadings: cluster ? () => undefined : pipeline.onReadings,
    onStatus: pipeline.onStatus,
    onDeviceEvent: cluster ? () => undefined : pipeline.onDeviceEvent,
    logger: log.child({ part: 'ingest' }),
    ...(cluster?.has('edge') ? { writer: (journal) => cluster.edgeWriter(journal) } : {}),
  })
  for (const [deviceId, snapshot] of cluster ? [] : ingest.loadSnapshots()) {
    const info = pipeline.lookupDevice(deviceId)
    if (info) detector.ensureDevice(deviceId, info.type, snapshot)
  }
  registerIngestMetrics(metrics, ingest)
  await ingest.start()
  const worker = cluster?.has('worker')
    ? await startWorker({ node: cluster, pipeline, detector, store, log: log.child({ part: 'worker' }), checkpointMs: config.checkpointMs })
    : null
  if (worker) registerClusterMetrics(metrics, worker)
  if (cluster && hasApi) registerClusterViewMetrics(metrics, () => cluster.view())
  // The databases just opened or created (SQLite gives their -wal/-shm files the same mode).
  restrictDataDir(dataDir)

  // A part replaced adds the device's run to failure to its type's failure signatures. Registered
  // before the repair actions, so it reads the device's history before the reset starts it afresh.
  const stopFleetLearning = store.onTransition((c) => fleetModels.onTicketChange(c))
  // A repair in progress holds the component's warnings; a finished repair resets its baseline.
  const stopRepairActions = onRepairActions(store, (a) => {
    if (!pipeline.ensureInDetector(a.deviceId)) return
    const events = detector.repairAction?.(a.deviceId, a.component, a.kind) ?? []
    pipeline.markDirty(a.deviceId)
    if (events.length > 0) void pipeline.applyEvents(events)
  })

  if (!hasEdge) {
    // A process without the edge role accepts no devices: no broker, no MQTT port.
  } else if (config.brokerUrl !== null) {
    external = await startExternalBroker({ config: externalConfig as ExternalBrokerConfig, ingest, sink, store, log: log.child({ part: 'broker' }) })
  } else broker = await createEmbeddedBroker({
    port: config.mqttPort,
    // Production: devices come in over TLS; plain MQTT is for local tools on this machine only.
    host: config.profile === 'production' ? '127.0.0.1' : config.host,
    ...(config.tlsPort !== null && config.tlsCertFile !== null && config.tlsKeyFile !== null
      ? { tls: { port: config.tlsPort, cert: readFileSync(config.tlsCertFile), key: readFileSync(config.tlsKeyFile), host: config.host } }
      : {}),
    ...(config.wsPort !== null ? { wsPort: config.wsPort, wsHost: config.profile === 'production' ? '127.0.0.1' : config.host } : {}),
    logger: log.child({ part: 'broker' }),
    authenticate: authenticatePrincipal(store, pipeline),
    onPublish: async (_principal, deviceId, kind, payload) => {
      // Backpressure: while the sink's buffer is full the PUBACK waits, so devices slow down
      // (their in-flight window fills) instead of readings piling up in memory.
      if (sink?.backpressure) await new Promise<void>((r) => sink.onDrain(r))
      await ingest.accept(deviceId, kind, payload)
    },
  })

  // The bus between edges: warnings raised by a worker anywhere are published on this broker too.
  if (cluster?.has('edge') && broker) {
    const b = broker
    cluster.onOut((topic, payload) => b.publish(topic, payload, { qos: 1 }))
  }

  let stopped = false
  let checkpointing: Promise<void> | null = null
  /**
   * Pairs the detector snapshots with the journal cursor they reflect (both taken now, in one
   * synchronous step), waits until every effect of those readings is stored (records, sink), and
   * only then records the pair. After a crash, replay starts from there: nothing acknowledged is
   * lost, and replayed effects are idempotent (episode ids, series + timestamp). While the records
   * store fails, `settled()` waits (the pipeline retries the write), so this checkpoint stays in
   * flight and later calls join it: the cursor cannot pass an effect that is not stored.
   */
  const checkpoint = (final = false): Promise<void> => {
    // In a cluster, workers checkpoint their partitions in KV (cluster/worker.ts).
    if (cluster) return Promise.resolve()
    if (checkpointing) return checkpointing
    const cursor = ingest.stats().dispatchedCursor
    const snapshots = pipeline.takeSnapshots()
    // The console window's buckets hold exactly the readings up to `cursor`, and are stored only
    // once the cursor is recorded: a replay starts after them, so none is added twice. A crash
    // in between loses them from the charts (nothing else reads the window).
    const window = pipeline.takeWindow(final)
    checkpointing = (async () => {
      try {
        await pipeline.flushHealth()
        await pipeline.settled()
        await sink?.flush()
        const recorded = ingest.checkpoint(snapshots, cursor)
        // Not awaited: a journal that fails to record holds the window, not the checkpoint (or
        // stop(), whose ingest.close() settles it); stop() waits for the write with settled().
        if (window !== null && window.length > 0) {
          void recorded.then((ok) => (ok ? pipeline.writeWindow(window) : undefined)).catch((err: unknown) => {
            if (!stopped) log.warn({ err }, 'the recent telemetry window of a checkpoint was not stored')
          })
        }
      } catch (err) {
        for (const [id] of snapshots) pipeline.markDirty(id)
        // At shutdown after an abandoned write this is expected and said once in stop().
        if (!stopped) log.error({ err }, 'checkpoint failed; will retry')
      } finally {
        checkpointing = null
      }
    })()
    return checkpointing
  }
  const healthTimer = setInterval(() => void pipeline.flushHealth(), config.healthFlushMs)
  const checkpointTimer = setInterval(() => void checkpoint(), config.checkpointMs)
  const offlineTimer = setInterval(() => void pipeline.markSilentOffline().catch((err: unknown) => log.warn({ err }, 'offline sweep failed')), 30_000)

  // Without the edge role there is no broker here to disconnect a revoked device from; in a
  // cluster the registry bus tells the edges (cluster/registry-bus.ts, docs/scaling.md).
  const localStore = external ? withBrokerProvisioning(store, external.provisioning, pipeline) : broker ? withConnectionControl(store, broker, pipeline) : store
  const apiStore = registryBus ? withRegistryBus(localStore, registryBus, log.child({ part: 'registry-bus' })) : localStore
  const app = !hasApi ? null : await buildApi({
    store: apiStore,
    logger: false,
    publicUrl: config.publicUrl ?? undefined,
    metrics,
    https: apiUsesTls(config) ? { cert: readFileSync(config.tlsCertFile as string), key: readFileSync(config.tlsKeyFile as string) } : undefined,
    console: { telemetry: consoleTelemetry.source ?? undefined },
    rejects: (o) => ingest.rejects(o),
    typeModels: (type) => fleetModels.info(type),
    cluster: cluster ? () => cluster.view() : undefined,
    readiness: async () => ({
      // Only an edge has a broker to be ready (an api-only process is ready without one).
      ...(hasEdge ? { broker: { ok: broker !== null || external?.connected() === true } } : {}),
      ingest: { ok: true, detail: JSON.stringify(ingest.stats()) },
      records: recordsReadiness(pipeline),
      ...(sink ? { [sink.name]: { ok: sink.state().state !== 'off', detail: JSON.stringify(sink.state()) } } : {}),
    }),
  })
  let apiAddress: string | null = null
  try {
    if (app) apiAddress = await app.listen({ port: config.apiPort, host: config.host })
  } catch (cause) {
    // Undo what is running, so a caller (or a test) is left with nothing half-started.
    clearInterval(healthTimer)
    clearInterval(checkpointTimer)
    clearInterval(offlineTimer)
    stopRepairActions()
    await app?.close()
    await broker?.close()
    await external?.close()
    await ingest.close()
    await worker?.stop()
    registryBus?.close()
    await cluster?.close()
    await sink?.close()
    await store.close()
    throw listenError(cause, config)
  }
  if (app && !apiUsesTls(config) && !isLoopback(config.host)) {
    log.warn({ host: config.host }, 'the API is served over plain HTTP on a non-loopback address: use the production profile with --cert and --key, or a TLS-terminating proxy')
  }
  const apiPort = apiAddress === null ? null : Number(new URL(apiAddress).port)
  const apiUrl = apiPort === null ? null : config.publicUrl ?? `${apiUsesTls(config) ? 'https' : 'http'}://${config.host.includes(':') ? `[${config.host}]` : config.host}:${apiPort}`
  const mqttPort = external?.port ?? broker?.port ?? null
  const mqttUrl = external?.url ?? (mqttPort === null ? null : `mqtt://${config.host}:${mqttPort}`)
  if (apiUrl !== null) store.setPublicUrl(apiUrl)
  // Ticket delivery from the outbox is the api role's (SKIP LOCKED keeps several deliverers to one send).
  const delivery = hasApi ? startDelivery({ store, adapters, dataDir, metrics, log: log.child({ part: 'delivery' }) }) : null

  const reporting = sink ? startInfluxReporting({ store, sink, ingest, pipeline, log: log.child({ part: 'reporting' }) }) : null

  // loadStartConfig refuses --simulate in a process without both edge and api.
  const fleet = config.simulate > 0 && apiUrl !== null && mqttUrl !== null
    ? await startSimulatedFleet({ config, dataDir, apiUrl, mqttUrl, store, log: log.child({ part: 'fleet' }) })
    : null

  let lastCount = 0
  let lastAt = Date.now()
  let rate = 0
  let counts = await store.counts()
  const rateTimer = setInterval(() => {
    const now = Date.now()
    const readings = pipeline.readings()
    rate = ((readings - lastCount) * 1000) / Math.max(1, now - lastAt)
    lastCount = readings
    lastAt = now
    store.counts().then((c) => { counts = c }, () => undefined)
  }, 1000)

  const without = (role: Role, what: string): never => {
    throw new ForewarnError(ErrorCode.CONFIG, `this process has no ${role} role (--roles ${config.roles.join(',')}), so no ${what}`)
  }
  return {
    config, fleetModels, adminKey: newAdminKey, store, ingest, broker, external, cluster, worker, fleet, metrics,
    get apiUrl() { return apiUrl ?? without('api', 'API URL') },
    get apiPort() { return apiPort ?? without('api', 'API port') },
    get mqttUrl() { return mqttUrl ?? without('edge', 'MQTT URL') },
    get mqttPort() { return mqttPort ?? without('edge', 'MQTT port') },
    stats() {
      return { devices: counts.devices, online: counts.online, readingsPerSec: Math.round(rate), readings: pipeline.readings(), warnings: counts.activeWarnings, tickets: counts.tickets }
    },
    async stop() {
      if (stopped) return
      stopped = true
      clearInterval(rateTimer)
      if (fleet) await fleet.stop()
      await broker?.close()
      await external?.close()
      await delivery?.stop()
      await app?.close()
      clearInterval(healthTimer)
      clearInterval(checkpointTimer)
      clearInterval(offlineTimer)
      stopRepairActions()
      stopFleetLearning()
      fleetModels.stop()
      await fleetModels.settled()
      await reporting?.stop()
      // A store that is down now does not hold the shutdown: what is not stored by now is not
      // checkpointed either, and a restart replays it from the journal.
      const outage = pipeline.storeOutage()
      if (outage !== null) log.warn({ since: new Date(outage.since).toISOString(), retries: outage.retries }, 'stopping while records-store writes fail: effects not stored yet are replayed from the journal at the next start')
      pipeline.abandonFailingWrites()
      // One taken now, after any in flight: it carries the rest of the window (final).
      if (checkpointing) await checkpointing
      await checkpoint(true)
      // close() dispatches what is still committed but unprocessed; those rows are after the
      // last checkpoint, so a restart replays them into the restored detector (effects are idempotent).
      await ingest.close()
      // Gives its partitions away after a final checkpoint (the pipeline's writes settle in it).
      await worker?.stop()
      registryBus?.close()
      await cluster?.close()
      await pipeline.flushHealth(true)
      // Rejects only when writes were given up above; those readings are replayed at the next start.
      await pipeline.settled().catch(() => undefined)
      await sink?.close()
      await store.close()
    },
  }
}

/** A busy or forbidden API port is a configuration error (exit 2), as the MQTT port's is. */
function listenError(cause: unknown, config: StartConfig): unknown {
  const code = (cause as NodeJS.ErrnoException).code
  const where = `${config.host}:${config.apiPort}`
  if (code === 'EADDRINUSE') return new ForewarnError(ErrorCode.CONFIG, `the API port ${where} is already in use: choose another with --api-port (FOREWARN_API_PORT)`, { cause })
  if (code === 'EACCES') return new ForewarnError(ErrorCode.CONFIG, `no permission to listen on ${where}: choose a port above 1023 with --api-port (FOREWARN_API_PORT)`, { cause })
  if (code === 'EADDRNOTAVAIL') return new ForewarnError(ErrorCode.CONFIG, `${config.host} is not an address of this machine (--host, FOREWARN_HOST)`, { cause })
  return cause
}

/** `--influx-…` flags win over their INFLUX_* variables (secrets stay in the environment only). */
function withInfluxFlags(flags: StartFlags & Record<string, unknown>, env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const names: [string, string][] = [
    ['influxUrl', 'INFLUX_URL'], ['influxApi', 'INFLUX_API'], ['influxOrg', 'INFLUX_ORG'], ['influxBucket', 'INFLUX_BUCKET'],
    ['influxDatabase', 'INFLUX_DATABASE'], ['influxUsername', 'INFLUX_USERNAME'],
  ]
  const out = { ...env }
  for (const [flag, name] of names) if (typeof flags[flag] === 'string') out[name] = flags[flag] as string
  return out
}

export async function runStart(flags: StartFlags & Record<string, unknown>, processEnv: NodeJS.ProcessEnv): Promise<void> {
  const env = withInfluxFlags(flags, processEnv)
  const config = loadStartConfig(flags, env)
  // Files this process creates (spool segments, delivery cursors, databases) are the owner's only.
  process.umask(0o077)
  const log = pino({ level: env.FOREWARN_LOG_LEVEL ?? 'warn' }, pino.destination(2))
  const running = await startForewarn(config, log, env)
  const out = process.stdout
  const roles = config.cluster === null ? null : config.roles
  out.write('Forewarn is running\n')
  if (roles) out.write(`  cluster  ${config.cluster?.join(',')}  roles ${roles.join(',')}\n`)
  if (!roles || roles.includes('api')) out.write(`  console  ${running.apiUrl}/  (sign in with an API key)\n  API      ${running.apiUrl}  (OpenAPI: ${running.apiUrl}/docs)\n`)
  if (!roles || roles.includes('edge')) out.write(`  MQTT     ${running.mqttUrl}\n`)
  out.write(`  data     ${resolve(config.dataDir)}\n`)
  if (running.adminKey) out.write(`  admin API key (shown once, stored hashed): ${running.adminKey}\n`)
  else out.write('  admin API key: from FOREWARN_ADMIN_KEY or issued on first start\n')
  if (running.fleet?.resumed) out.write(`  simulated fleet: ${running.fleet.members.length} appliances from the earlier run, reconnected and reporting from the present\n`)
  else if (running.fleet) out.write(`  simulated fleet: ${config.simulate} appliances, ${config.simulateDays} days of event time in ~${config.simulateCatchUpS}s\n`)
  if (!roles || roles.includes('api')) out.write(`  try: curl -H "Authorization: Bearer <admin key>" ${running.apiUrl}/tickets\n`)
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
