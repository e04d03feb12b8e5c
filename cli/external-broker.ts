/**
 * `forewarn start --broker mqtt://host:port`: the pipeline as a client of an external broker
 * instead of the embedded aedes. Devices authenticate with that broker, so provisioning, revoking
 * and rotating through the API must also reach it: for Mosquitto through its dynamic-security
 * plugin (broker/mosquitto.ts); with `FOREWARN_BROKER_PROVISIONING=none` the operator's broker
 * authenticates devices some other way (EMQX or HiveMQ asking an auth service; docs/external-broker.md).
 *
 * Readings arrive through ingest/mqtt-source.ts (persistent session, acknowledged after commit);
 * warnings leave through a small mqtt.js client of the same service account.
 */
import mqtt, { type MqttClient } from 'mqtt'
import type { Logger } from 'pino'
import { ErrorCode, ForewarnError } from '../domain/index.ts'
import { createMosquittoDynsec, type MosquittoDynsec } from '../broker/mosquitto.ts'
import type { AsyncRecordsStore } from '../api/store/open.ts'
import type { Ingest } from '../ingest/index.ts'
import { createMqttSource, type MqttSource } from '../ingest/mqtt-source.ts'
import type { TelemetrySink } from '../ingest/sink.ts'
import { GATEWAY_PREFIX } from './gateways.ts'
import type { Pipeline } from './pipeline.ts'

export interface ExternalBrokerConfig {
  url: string
  /** The pipeline's service account on that broker. */
  username: string
  password: string
  /** Fixed, so the broker keeps the pipeline's persistent session across restarts. */
  clientId: string
  /** The dynamic-security admin; null: provisioning does not touch the broker. */
  dynsec: { username: string; password: string } | null
  connectTimeoutMs: number
}

/**
 * FOREWARN_BROKER_USERNAME / FOREWARN_BROKER_PASSWORD (service account), FOREWARN_BROKER_CLIENT_ID,
 * FOREWARN_BROKER_PROVISIONING (`mosquitto-dynsec`, the default, or `none`),
 * FOREWARN_DYNSEC_USERNAME / FOREWARN_DYNSEC_PASSWORD (needed by `mosquitto-dynsec`).
 */
export function externalBrokerConfigFromEnv(url: string, env: NodeJS.ProcessEnv): ExternalBrokerConfig {
  const missing = (name: string): ForewarnError =>
    new ForewarnError(ErrorCode.CONFIG, `--broker ${url} needs ${name} (see docs/external-broker.md)`)
  const username = env.FOREWARN_BROKER_USERNAME
  const password = env.FOREWARN_BROKER_PASSWORD
  if (!username) throw missing('FOREWARN_BROKER_USERNAME, the pipeline\'s service account')
  if (!password) throw missing('FOREWARN_BROKER_PASSWORD')
  const provisioning = env.FOREWARN_BROKER_PROVISIONING ?? 'mosquitto-dynsec'
  if (provisioning !== 'mosquitto-dynsec' && provisioning !== 'none') {
    throw new ForewarnError(ErrorCode.CONFIG, `FOREWARN_BROKER_PROVISIONING must be mosquitto-dynsec or none, got ${JSON.stringify(provisioning)}`)
  }
  let dynsec: ExternalBrokerConfig['dynsec'] = null
  if (provisioning === 'mosquitto-dynsec') {
    if (!env.FOREWARN_DYNSEC_USERNAME) throw missing('FOREWARN_DYNSEC_USERNAME, the dynamic-security admin (or FOREWARN_BROKER_PROVISIONING=none)')
    if (!env.FOREWARN_DYNSEC_PASSWORD) throw missing('FOREWARN_DYNSEC_PASSWORD')
    dynsec = { username: env.FOREWARN_DYNSEC_USERNAME, password: env.FOREWARN_DYNSEC_PASSWORD }
  }
  const clientId = env.FOREWARN_BROKER_CLIENT_ID ?? 'forewarn-pipeline'
  if (clientId.length === 0 || clientId.length > 23 * 4) throw new ForewarnError(ErrorCode.CONFIG, 'FOREWARN_BROKER_CLIENT_ID must be 1–92 characters')
  return { url, username, password, clientId, dynsec, connectTimeoutMs: 15_000 }
}

export interface ExternalBroker {
  url: string
  port: number
  source: MqttSource
  provisioning: MosquittoDynsec | null
  publish(topic: string, payload: Buffer | string): Promise<void>
  connected(): boolean
  close(): Promise<void>
}

/**
 * A revocation that reached the store but not the broker (it failed, or the process died in
 * between) is finished here; removing an absent client is a no-op.
 */
async function revokeOnBroker(store: Pick<AsyncRecordsStore, 'listDevices'>, provisioning: MosquittoDynsec, log: Logger): Promise<void> {
  let after: string | undefined
  let n = 0
  for (;;) {
    const page = await store.listDevices({ limit: 1000, after })
    for (const d of page.items) {
      if (!d.revoked) continue
      await provisioning.revokeDevice(d.id, { gatewayId: d.gatewayId })
      n++
    }
    if (page.next === null) break
    after = page.next
  }
  if (n > 0) log.info({ revoked: n }, 'revoked devices removed from the external broker')
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new ForewarnError(ErrorCode.BROKER, `${what}: no answer within ${ms} ms`, { retriable: true })), ms)
  })
  return Promise.race([p, t]).finally(() => clearTimeout(timer))
}

/**
 * Provisions the service account (when dynsec is on), then connects the publisher and the ingest
 * source. Resolves once the source's subscriptions are granted.
 */
export async function startExternalBroker(o: {
  config: ExternalBrokerConfig
  ingest: Pick<Ingest, 'accept'>
  sink: TelemetrySink | null
  log: Logger
  /** When given, devices revoked in the store are (again) removed from the broker at start-up. */
  store?: Pick<AsyncRecordsStore, 'listDevices'>
}): Promise<ExternalBroker> {
  const { config: c, log } = o
  const url = new URL(c.url)
  const port = Number(url.port || (url.protocol === 'mqtts:' ? 8883 : 1883))
  let provisioning: MosquittoDynsec | null = null
  if (c.dynsec) {
    provisioning = await createMosquittoDynsec({ url: c.url, adminUsername: c.dynsec.username, adminPassword: c.dynsec.password, logger: log.child({ part: 'dynsec' }) })
    await provisioning.ensurePipelineAccount(c.username, c.password)
    if (o.store) await revokeOnBroker(o.store, provisioning, log)
  }
  let publisher: MqttClient | null = null
  let source: MqttSource | null = null
  try {
    publisher = await withTimeout(mqtt.connectAsync(c.url, {
      username: c.username, password: c.password, clientId: `${c.clientId}-out`, clean: true, reconnectPeriod: 1000,
      connectTimeout: c.connectTimeoutMs, protocolVersion: 4,
    }, false), c.connectTimeoutMs, `connecting to ${c.url}`)
    publisher.on('error', (err) => log.warn({ err: err.message }, 'external broker publisher error'))
    const accept: Ingest['accept'] = async (deviceId, kind, payload) => {
      // Backpressure: while the sink's buffer is full nothing is acknowledged, so the source
      // pauses reading at its in-flight cap and the broker queues for us.
      if (o.sink?.backpressure) await new Promise<void>((r) => o.sink?.onDrain(r))
      return o.ingest.accept(deviceId, kind, payload)
    }
    source = createMqttSource({ url: c.url, username: c.username, password: c.password, clientId: c.clientId, ingest: { accept }, logger: log.child({ part: 'mqtt-source' }) })
    await withTimeout(source.ready, c.connectTimeoutMs, `subscribing on ${c.url}`)
  } catch (cause) {
    await source?.close()
    publisher?.end(true)
    await provisioning?.close()
    if (cause instanceof ForewarnError) throw cause
    throw new ForewarnError(ErrorCode.BROKER, `the external broker ${c.url} refused the pipeline account ${c.username}: ${(cause as Error).message}`, { cause, retriable: true })
  }
  const pub = publisher
  const src = source
  return {
    url: c.url,
    port,
    source: src,
    provisioning,
    async publish(topic, payload) {
      await pub.publishAsync(topic, payload, { qos: 1 })
    },
    connected: () => src.connected() && pub.connected,
    async close() {
      await src.close()
      await pub.endAsync()
      await provisioning?.close()
    },
  }
}

/**
 * The API's view of the store with an external broker: provisioning also creates the device on the
 * broker (with the password the store returns once), revoking deletes it there (the broker
 * disconnects it), rotating replaces its password there; the same for gateways, whose role gets the
 * ACLs of each device provisioned behind it (Mosquitto applies role changes to live connections, so
 * a gateway need not reconnect). Devices never authenticate with us, so the pipeline learns a new
 * device here rather than at its first connection.
 *
 * The store is written first: a broker failure then leaves a registered device that cannot
 * connect yet (an error to the caller; rotating its credentials provisions it again), never a
 * broker account without a device record.
 */
export function withBrokerProvisioning(store: AsyncRecordsStore, provisioning: MosquittoDynsec | null, pipeline: Pick<Pipeline, 'remember'>): AsyncRecordsStore {
  const brokerFailed = (id: string, what: string, cause: unknown, retry = 'rotate its credentials to retry'): ForewarnError =>
    new ForewarnError(ErrorCode.BROKER, `${id.startsWith(GATEWAY_PREFIX) ? 'gateway' : 'device'} ${id}: ${what} on the external broker failed; ${retry}`, { cause, retriable: true })
  return new Proxy(store, {
    get(target, prop, receiver) {
      if (prop === 'createDevice') {
        return async (input: Parameters<AsyncRecordsStore['createDevice']>[0]) => {
          const created = await target.createDevice(input)
          pipeline.remember(created.device)
          if (provisioning) {
            await provisioning.provisionDevice(created.device.id, created.credentials.password, { gatewayId: created.device.gatewayId })
              .catch((cause: unknown) => { throw brokerFailed(created.device.id, 'provisioning', cause) })
          }
          return created
        }
      }
      if (prop === 'revokeDevice') {
        return async (id: string) => {
          const device = await target.revokeDevice(id)
          pipeline.remember(device)
          await provisioning?.revokeDevice(id, { gatewayId: device.gatewayId })
            .catch((cause: unknown) => { throw brokerFailed(id, 'revocation', cause, 'revoke it again (it is already refused by the pipeline)') })
          return device
        }
      }
      if (prop === 'createGateway') {
        return async (input: Parameters<AsyncRecordsStore['createGateway']>[0]) => {
          const created = await target.createGateway(input)
          await provisioning?.provisionGateway(created.gateway.id, created.credentials.password)
            .catch((cause: unknown) => { throw brokerFailed(created.gateway.id, 'provisioning', cause) })
          return created
        }
      }
      if (prop === 'revokeGateway') {
        return async (id: string) => {
          const gateway = await target.revokeGateway(id)
          await provisioning?.revokeGateway(id)
            .catch((cause: unknown) => { throw brokerFailed(id, 'revocation', cause, 'revoke it again') })
          return gateway
        }
      }
      if (prop === 'rotateGatewayCredentials') {
        return async (id: string) => {
          const credentials = await target.rotateGatewayCredentials(id)
          await provisioning?.provisionGateway(id, credentials.password)
            .catch((cause: unknown) => { throw brokerFailed(id, 'rotation', cause) })
          return credentials
        }
      }
      if (prop === 'rotateCredentials') {
        return async (id: string) => {
          const credentials = await target.rotateCredentials(id)
          if (provisioning) {
            // provisionDevice, not only a new password: it also repairs a device whose first
            // provisioning on the broker failed.
            const device = await target.getDevice(id)
            await provisioning.provisionDevice(id, credentials.password, { gatewayId: device?.gatewayId ?? null })
              .catch((cause: unknown) => { throw brokerFailed(id, 'rotation', cause) })
          }
          return credentials
        }
      }
      const value: unknown = Reflect.get(target, prop, receiver)
      return typeof value === 'function' ? value.bind(target) : value
    },
  })
}
