/**
 * Ingest as a normal MQTT client, for an external broker (Mosquitto, EMQX, HiveMQ, aedes alone).
 * A persistent session (fixed client id, clean session off) at QoS 1, and a message is
 * acknowledged only after ingest committed it. If a commit fails the connection is dropped with
 * the message unacknowledged, and the broker redelivers it on the resumed session (MQTT-4.4.0-1).
 *
 * Why not mqtt.js: it handles incoming packets strictly one after another and sends the PUBACK in
 * that same chain, so each message would wait for its own fsync (~170 messages/s on a busy disk).
 * Speaking MQTT 3.1.1 directly (mqtt-packet does the framing) lets many messages share one group
 * commit, each PUBACK going out as its commit lands; PUBACK order is free (MQTT-4.6.0-2 binds
 * only the sender's order of PUBLISH, and acknowledgements of QoS 1 may come in any order here).
 */
import { connect as netConnect, type Socket } from 'node:net'
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls'
import mqttPacket, { type Packet } from 'mqtt-packet'
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
  keepaliveS?: number
  /** Above this many messages awaiting commit, reading from the broker pauses (backpressure). */
  maxInflight?: number
  /** TLS options for mqtts:// (e.g. `ca` for a private certificate authority). */
  tls?: ConnectionOptions
}

export interface MqttSource {
  /** Resolves once the first session is up and its subscriptions granted; rejects when refused. */
  ready: Promise<void>
  connected(): boolean
  stats(): { received: number; acknowledged: number; commitFailures: number; foreign: number; inflight: number; connects: number }
  close(): Promise<void>
}

const FILTERS = [topics.allTelemetry, topics.allStatus, topics.allEvents]

export function createMqttSource(o: MqttSourceOptions): MqttSource {
  const log = o.logger
  const url = new URL(o.url)
  const secure = url.protocol === 'mqtts:' || url.protocol === 'ssl:'
  const host = url.hostname
  const port = Number(url.port || (secure ? 8883 : 1883))
  const keepaliveS = o.keepaliveS ?? 30
  const maxInflight = o.maxInflight ?? 5000
  const stats = { received: 0, acknowledged: 0, commitFailures: 0, foreign: 0, inflight: 0, connects: 0 }
  let sock: Socket | null = null
  let up = false
  let stopped = false
  let reconnectTimer: NodeJS.Timeout | null = null
  let pingTimer: NodeJS.Timeout | null = null
  let readySettled = false
  let resolveReady!: () => void
  let rejectReady!: (e: Error) => void
  const ready = new Promise<void>((res, rej) => {
    resolveReady = res
    rejectReady = rej
  })
  ready.catch(() => {})
  const settle = (err?: Error): void => {
    if (readySettled) return
    readySettled = true
    if (err) rejectReady(err)
    else resolveReady()
  }

  function send(s: Socket, packet: Packet): void {
    if (!s.destroyed) s.write(mqttPacket.generate(packet))
  }

  function open(): void {
    reconnectTimer = null
    if (stopped) return
    const s = secure ? tlsConnect({ host, port, servername: host, ...o.tls }) : netConnect(port, host)
    sock = s
    const parser = mqttPacket.parser({ protocolVersion: 4 })
    let pongPending = false
    s.on(secure ? 'secureConnect' : 'connect', () => {
      send(s, {
        cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: false, clientId: o.clientId,
        keepalive: keepaliveS, username: o.username, password: Buffer.from(o.password),
      })
    })
    s.on('data', (d: Buffer) => parser.parse(d))
    s.on('error', (err) => log?.warn({ err: err.message }, 'mqtt source connection error'))
    parser.on('error', (err) => {
      log?.warn({ err: err.message }, 'mqtt source: malformed packet from broker')
      s.destroy()
    })
    s.on('close', () => {
      if (sock === s) sock = null
      up = false
      if (pingTimer) clearInterval(pingTimer)
      pingTimer = null
      if (!stopped) reconnectTimer = setTimeout(open, o.reconnectPeriodMs ?? 1000)
    })
    parser.on('packet', (p: Packet) => {
      switch (p.cmd) {
        case 'connack':
          if (p.returnCode !== 0) {
            log?.error({ returnCode: p.returnCode }, 'broker refused the pipeline connection')
            settle(Object.assign(new Error(`broker refused the connection (CONNACK ${p.returnCode})`), { code: p.returnCode }))
            s.destroy()
            return
          }
          up = true
          stats.connects++
          // MQTT-3.1.2-24: the broker drops us after 1.5 keep-alives of silence.
          pingTimer = setInterval(() => {
            if (pongPending) {
              s.destroy()
              return
            }
            pongPending = true
            send(s, { cmd: 'pingreq' })
          }, keepaliveS * 500)
          // A resumed session keeps its subscriptions (MQTT-3.2.2-2); a new one needs them.
          if (p.sessionPresent) settle()
          else send(s, { cmd: 'subscribe', messageId: 1, subscriptions: FILTERS.map((topic) => ({ topic, qos: 1 as const })) })
          return
        case 'suback':
          if (p.granted.some((g) => g === 128)) {
            settle(new Error('subscription refused by the broker'))
            s.destroy()
          } else settle()
          return
        case 'pingresp':
          pongPending = false
          return
        case 'publish':
          onPublish(s, p)
          return
        default:
          return
      }
    })
  }

  function onPublish(s: Socket, p: mqttPacket.IPublishPacket): void {
    stats.received++
    const ack = (): void => {
      if (p.qos === 1 && p.messageId !== undefined) send(s, { cmd: 'puback', messageId: p.messageId })
    }
    if (p.qos === 2) {
      // We subscribe at QoS 1, so the broker never sends QoS 2 (MQTT-3.8.4-6); refuse to guess.
      s.destroy()
      return
    }
    const t = parseDeviceTopic(p.topic)
    if (t === null || t.kind === 'commands') {
      stats.foreign++
      ack()
      return
    }
    stats.inflight++
    if (stats.inflight >= maxInflight) s.pause()
    const payload = Buffer.isBuffer(p.payload) ? p.payload : Buffer.from(p.payload)
    o.ingest.accept(t.deviceId, t.kind, payload).then(
      () => {
        stats.acknowledged++
        ack()
      },
      (err: unknown) => {
        stats.commitFailures++
        log?.warn({ err, deviceId: t.deviceId }, 'commit failed: dropping the session unacknowledged for redelivery')
        s.destroy()
      },
    ).finally(() => {
      stats.inflight--
      if (stats.inflight < maxInflight / 2 && s.isPaused()) s.resume()
    })
  }

  open()

  return {
    ready,
    connected: () => up,
    stats: () => ({ ...stats }),
    async close() {
      stopped = true
      if (reconnectTimer) clearTimeout(reconnectTimer)
      const s = sock
      if (s === null || s.destroyed) return
      await new Promise<void>((resolve) => {
        s.once('close', () => resolve())
        send(s, { cmd: 'disconnect' })
        s.end()
        setTimeout(() => s.destroy(), 1000).unref()
      })
    },
  }
}
