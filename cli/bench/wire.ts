/**
 * A minimal MQTT 3.1.1 client for load generation: CONNECT, QoS 1 PUBLISH, SUBSCRIBE, and the
 * acknowledgements. mqtt.js costs tens of microseconds and ~100 KiB per client, which on a
 * 2-core machine would measure the load generator instead of the broker, and would not hold
 * 10,000 connections in one process. Packets are encoded by hand into one buffer each.
 */
import { connect as netConnect, type Socket } from 'node:net'

const CONNECT = 0x10, CONNACK = 0x20, PUBLISH = 0x30, PUBACK = 0x40, SUBSCRIBE = 0x82, SUBACK = 0x90

function varintLength(n: number): number {
  return n < 128 ? 1 : n < 16_384 ? 2 : n < 2_097_152 ? 3 : 4
}

function writeVarint(buf: Buffer, at: number, n: number): number {
  do {
    let b = n % 128
    n = Math.floor(n / 128)
    if (n > 0) b |= 0x80
    buf[at++] = b
  } while (n > 0)
  return at
}

function utf8Field(s: string): Buffer {
  const b = Buffer.from(s, 'utf8')
  const out = Buffer.allocUnsafe(2 + b.length)
  out.writeUInt16BE(b.length, 0)
  b.copy(out, 2)
  return out
}

export function encodeConnect(clientId: string, username?: string, password?: string, keepAliveS = 600): Buffer {
  let flags = 0x02 // clean session: a benchmark run never resumes an old one
  const parts = [utf8Field(clientId)]
  if (username !== undefined) { flags |= 0x80; parts.push(utf8Field(username)) }
  if (password !== undefined) { flags |= 0x40; parts.push(utf8Field(password)) }
  const head = Buffer.from([0, 4, 0x4d, 0x51, 0x54, 0x54, 4, flags, keepAliveS >> 8, keepAliveS & 0xff])
  const body = Buffer.concat([head, ...parts])
  const out = Buffer.allocUnsafe(1 + varintLength(body.length) + body.length)
  out[0] = CONNECT
  body.copy(out, writeVarint(out, 1, body.length))
  return out
}

/** One QoS 1 PUBLISH; `topic` is the UTF-8 topic with its 2-byte length prefix already in front. */
export function encodePublish(topic: Buffer, packetId: number, payload: string): Buffer {
  const payloadBytes = Buffer.byteLength(payload)
  const rem = topic.length + 2 + payloadBytes
  const out = Buffer.allocUnsafe(1 + varintLength(rem) + rem)
  out[0] = PUBLISH | 0x02
  let at = writeVarint(out, 1, rem)
  at += topic.copy(out, at)
  out[at++] = packetId >> 8
  out[at++] = packetId & 0xff
  out.write(payload, at, 'utf8')
  return out
}

export function topicField(topic: string): Buffer {
  return utf8Field(topic)
}

export interface ConnectionHandlers {
  onPuback?: (packetId: number) => void
  onPublish?: (topic: string, payload: Buffer) => void
}

/** One MQTT connection over TCP. Incoming QoS 1 deliveries are acknowledged at once. */
export class WireConnection {
  readonly socket: Socket
  private pending: Buffer | null = null
  private connack: ((code: number) => void) | null = null
  private suback: (() => void) | null = null
  closed = false

  constructor(host: string, port: number, private readonly handlers: ConnectionHandlers) {
    this.socket = netConnect({ host, port, noDelay: true })
    this.socket.on('data', (d: Buffer) => this.onData(d))
    this.socket.on('error', () => {})
    this.socket.on('close', () => {
      this.closed = true
      this.connack?.(-1)
    })
  }

  /** Resolves with the CONNACK return code (0 = accepted; -1 = the socket closed first). */
  connect(clientId: string, username?: string, password?: string): Promise<number> {
    return new Promise((resolve) => {
      this.connack = (code) => {
        this.connack = null
        resolve(code)
      }
      this.socket.write(encodeConnect(clientId, username, password))
    })
  }

  subscribe(filter: string): Promise<void> {
    const body = Buffer.concat([Buffer.from([0, 1]), utf8Field(filter), Buffer.from([1])])
    return new Promise((resolve) => {
      this.suback = resolve
      this.socket.write(Buffer.concat([Buffer.from([SUBSCRIBE, body.length]), body]))
    })
  }

  write(packet: Buffer): void {
    this.socket.write(packet)
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve()
    return new Promise((resolve) => {
      this.socket.once('close', () => resolve())
      this.socket.end(Buffer.from([0xe0, 0]))
      setTimeout(() => this.socket.destroy(), 2000).unref()
    })
  }

  private onData(chunk: Buffer): void {
    const buf = this.pending ? Buffer.concat([this.pending, chunk]) : chunk
    this.pending = null
    let at = 0
    this.socket.cork()
    while (at < buf.length) {
      // Fixed header: type byte, then the remaining length as a varint.
      let mult = 1, rem = 0, i = at + 1, complete = false
      while (i < buf.length && i < at + 5) {
        const b = buf[i++] as number
        rem += (b & 0x7f) * mult
        mult *= 128
        if ((b & 0x80) === 0) { complete = true; break }
      }
      if (!complete || i + rem > buf.length) break
      this.onPacket(buf, at, i, rem)
      at = i + rem
    }
    if (at < buf.length) this.pending = buf.subarray(at)
    process.nextTick(() => this.socket.uncork())
  }

  private onPacket(buf: Buffer, start: number, body: number, rem: number): void {
    const type = (buf[start] as number) & 0xf0
    if (type === PUBACK) this.handlers.onPuback?.(buf.readUInt16BE(body))
    else if (type === PUBLISH) {
      const qos = ((buf[start] as number) >> 1) & 3
      const tlen = buf.readUInt16BE(body)
      const topic = buf.toString('utf8', body + 2, body + 2 + tlen)
      let p = body + 2 + tlen
      if (qos > 0) {
        this.socket.write(Buffer.from([PUBACK, 2, buf[p] as number, buf[p + 1] as number]))
        p += 2
      }
      this.handlers.onPublish?.(topic, buf.subarray(p, body + rem))
    } else if (type === CONNACK) this.connack?.(buf[body + 1] as number)
    else if (type === SUBACK) {
      const done = this.suback
      this.suback = null
      done?.()
    }
  }
}
