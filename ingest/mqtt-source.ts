/**
 * Ingest as a normal MQTT client, for an external broker (Mosquitto, EMQX, HiveMQ, aedes alone).
 * A persistent session (fixed client id, clean session off) at QoS 1, and a message is
 * acknowledged only after ingest committed it: the PUBACK is held in mqtt.js' `handleMessage`.
 * If the commit fails the connection is dropped unacknowledged, and the broker redelivers the
 * message when the session resumes (MQTT-4.4.0-1).
 *
 * Known limit: mqtt.js handles incoming packets one at a time, so this path commits one message
 * per group commit; devices sending the batch form amortise it.
 */
import mqtt, { type MqttClient } from 'mqtt'
import type pino from 'pino'
import { parseDeviceTopic, topics } from '../domain/index.ts'
import type { Ingest } from './index.ts'

export interface MqttSourceOptions {
  url: string
  username: string
  password: string
  clientId: string
  ingest: Pick<Ingest, 'accept'>
  logger?: pino.Logger
  reconnectPeriodMs?: number
}

export interface MqttSource {
  /** Resolves once the first session is up and its subscriptions granted. */
  ready: Promise<void>
  connected(): boolean
  stats(): { received: number; acknowledged: number; commitFailures: number; foreign: number }
  close(): Promise<void>
}

const FILTERS = [topics.allTelemetry, topics.allStatus, topics.allEvents]

export function createMqttSource(o: MqttSourceOptions): MqttSource {
  const log = o.logger
  const stats = { received: 0, acknowledged: 0, commitFailures: 0, foreign: 0 }
  let client: MqttClient | null = null
  let resolveReady!: () => void
  let rejectReady!: (e: Error) => void
  const ready = new Promise<void>((res, rej) => {
    resolveReady = res
    rejectReady = rej
  })

  client = mqtt.connect(o.url, {
    clientId: o.clientId,
    username: o.username,
    password: o.password,
    clean: false,
    protocolVersion: 4,
    reconnectPeriod: o.reconnectPeriodMs ?? 1000,
  })
  // mqtt.js sends the PUBACK when handleMessage calls back (its `customHandleAcks` is MQTT 5 only,
  // and aedes 1.x speaks 3.1.1), so this is where the commit happens.
  client.handleMessage = (packet, callback) => {
    stats.received++
    const t = parseDeviceTopic(packet.topic)
    if (t === null || t.kind === 'commands') {
      // Not ours to keep: acknowledge so the broker does not resend it forever.
      stats.foreign++
      callback()
      return
    }
    const payload = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload)
    o.ingest.accept(t.deviceId, t.kind, payload).then(
      () => {
        stats.acknowledged++
        callback()
      },
      (err: unknown) => {
        stats.commitFailures++
        log?.warn({ err, deviceId: t.deviceId }, 'commit failed: dropping the session unacknowledged for redelivery')
        // No PUBACK: closing the stream makes the broker resend on the resumed session.
        client?.stream.destroy()
      },
    )
  }
  client.on('connect', (connack) => {
    // A resumed session keeps its subscriptions; subscribing again is harmless and covers a lost one.
    if (connack.sessionPresent) {
      resolveReady()
      return
    }
    client?.subscribe(FILTERS, { qos: 1 }, (err, granted) => {
      if (err || !granted || granted.some((g) => g.qos === 128)) {
        const e = err ?? new Error('subscription refused by the broker')
        log?.error({ err: e }, 'mqtt source could not subscribe')
        rejectReady(e)
        return
      }
      resolveReady()
    })
  })
  client.on('error', (err) => {
    log?.warn({ err: err.message }, 'mqtt source error')
    if ((err as Error & { code?: number }).code === 4 || (err as Error & { code?: number }).code === 5) rejectReady(err)
  })

  return {
    ready,
    connected: () => client?.connected ?? false,
    stats: () => ({ ...stats }),
    async close() {
      await client?.endAsync()
    },
  }
}
