/**
 * The embedded broker: aedes with per-principal authentication, a topic ACL, enforced last wills
 * and socket-level limits. aedes writes the QoS 1 PUBACK right after `authorizePublish` calls
 * back, so that hook is where a reading is committed: `onPublish` resolves after the durable
 * commit and only then do we call back. A rejected `onPublish` closes the connection without a
 * PUBACK; the device resends on reconnect (MQTT-4.4.0-1).
 *
 * Connection state: a device's CONNACK is reported as `onPublish(principal, id, 'status',
 * {"v":1,"state":"online"})`; its will (or a clean DISCONNECT) as the same with `offline`.
 */
import { Aedes, type AedesOptions, type AedesPublishPacket, type Client, type PublishPacket } from 'aedes'
import mqemitter from 'mqemitter'
import { createServer as createNetServer, type Server, type Socket } from 'node:net'
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http'
import { createServer as createTlsServer, type Server as TlsServer } from 'node:tls'
import type { Duplex } from 'node:stream'
import { WebSocketServer, createWebSocketStream } from 'ws'
import type pino from 'pino'
import { ErrorCode, ForewarnError, type TopicKind, checkStatus, parseDeviceTopic, topics } from '../domain/index.ts'
import { type Principal, authorizePublishTopic, authorizeSubscribeFilter, filterCovers, mayReceive } from './acl.ts'
import { createRateLimiter, guardPacketSize } from './guard.ts'

export type { Principal } from './acl.ts'

export interface BrokerLimits {
  /** Whole MQTT packet, header included; larger packets close the connection at the socket. */
  maxPacketBytes: number
  /**
   * QoS 1/2 publishes of one client awaiting their commit; one more closes the connection. aedes
   * already reads a client's next socket chunk only after the current one is handled, so this
   * only bites a client that packs more than this many publishes into one read.
   */
  maxInflightPerClient: number
  /** New TCP connections per remote address per second (token bucket). */
  connectionsPerAddressPerSec: number
  /** Addresses the connection-rate limit does not apply to (the local simulator, the pipeline). */
  rateLimitExempt: readonly string[]
  /**
   * Longest keep-alive the broker relies on. Any keep-alive is accepted (0 = none, MQTT 3.1.1
   * §3.1.2.10); a connection with no traffic for 1.5 × this is closed whatever it asked for, and
   * its will published, as for a network failure. TCP keep-alive probes find dead peers sooner.
   */
  maxKeepAliveS: number
  /** Idle time before the first TCP keep-alive probe on an MQTT socket. */
  tcpKeepAliveMs: number
  /** Time from TCP accept to CONNECT before the socket is closed. */
  connectTimeoutMs: number
  maxConnections: number
  /** How long one stalled subscriber may hold delivery up (aedes `drainTimeout`). */
  drainTimeoutMs: number
}

export const defaultBrokerLimits: BrokerLimits = {
  maxPacketBytes: 256 * 1024 + 1024,
  maxInflightPerClient: 1000,
  connectionsPerAddressPerSec: 20,
  rateLimitExempt: ['127.0.0.1', '::1', '::ffff:127.0.0.1'],
  maxKeepAliveS: 1200,
  tcpKeepAliveMs: 60_000,
  connectTimeoutMs: 10_000,
  maxConnections: 100_000,
  drainTimeoutMs: 10_000,
}

export interface EmbeddedBrokerOptions {
  port: number
  host?: string
  authenticate: (username: string, password: Buffer) => Promise<Principal | null>
  onPublish: (principal: Principal, deviceId: string, kind: TopicKind, payload: Buffer) => Promise<void>
  limits?: Partial<BrokerLimits>
  logger?: pino.Logger
  wsPort?: number
  /** Address of the WebSocket listener; defaults to `host`. */
  wsHost?: string
  /** MQTT over TLS; `host` defaults to the broker's `host` (a production profile binds TLS publicly and plain MQTT to loopback). */
  tls?: { port: number; cert: string | Buffer; key: string | Buffer; host?: string }
  /** Conformance testing only: clients without credentials get unrestricted topics. */
  allowAnonymous?: boolean
  /** Filters an anonymous client may not subscribe to (SUBACK 0x80), matched as MQTT filters. */
  anonymousDenyFilters?: readonly string[]
  /** Passed to aedes (e.g. aedes-persistence-redis, mqemitter-redis) for shared durable state. */
  persistence?: unknown
  mq?: unknown
}

export interface BrokerCounters {
  connectionsRefusedRate: number
  connectionsRefusedMax: number
  oversizePackets: number
  aclDeniedPublish: number
  aclDeniedSubscribe: number
  inflightExceeded: number
  authFailures: number
  publishFailures: number
  staleWillsDropped: number
  /** Connections closed after 1.5 × maxKeepAliveS without traffic. */
  idleClosed: number
}

export interface EmbeddedBroker {
  port: number
  wsPort: number | null
  tlsPort: number | null
  aedes: Aedes
  publish(topic: string, payload: Buffer | string, opts?: { retain?: boolean; qos?: 0 | 1 }): Promise<void>
  connectedDevices(): number
  disconnectDevice(deviceId: string): void
  /**
   * Closes the authenticated connection with this client id (a device's or a gateway's: their
   * client id is their identity). A gateway reconnects and authenticates again, so this is how
   * it learns a changed set of devices.
   */
  disconnectClient(clientId: string): void
  counters(): BrokerCounters
  close(): Promise<void>
}

interface ClientState {
  principal: Principal
  inflight: number
}

const OFFLINE_WILL = Buffer.from('{"v":1,"state":"offline"}')

function authError(returnCode: number, message: string): Error & { returnCode: number } {
  return Object.assign(new Error(message), { returnCode })
}

/** A device's will must be its own retained offline status (DESIGN.md "Contracts"). */
function willProblem(deviceId: string, will: PublishPacket): string | null {
  if (will.topic !== topics.status(deviceId)) return `will topic must be ${topics.status(deviceId)}`
  if (!will.retain) return 'will must be retained'
  let value: unknown
  try {
    value = JSON.parse(Buffer.from(will.payload).toString('utf8'))
  } catch {
    return 'will payload is not JSON'
  }
  if (!checkStatus.Check(value) || value.state !== 'offline') return 'will payload must be {"v":1,"state":"offline"}'
  return null
}

export async function createEmbeddedBroker(opts: EmbeddedBrokerOptions): Promise<EmbeddedBroker> {
  const limits: BrokerLimits = { ...defaultBrokerLimits, ...opts.limits }
  const log = opts.logger
  const anon = opts.allowAnonymous === true
  const states = new WeakMap<Client, ClientState>()
  /** The newest authenticated connection per device: older ones' wills are stale. */
  const latest = new Map<string, Client>()
  const online = new Map<string, Client>()
  /** The newest authenticated connection per client id (devices and gateways). */
  const byClientId = new Map<string, Client>()
  const emptyIdPersistent = new WeakSet<Client>()
  /** Publishes acknowledged but never stored or forwarded (MQTT-3.3.5-2 allows either that or a close). */
  const dropped = new WeakSet<object>()
  const denyFilters = anon ? (opts.anonymousDenyFilters ?? []) : []
  const deniedToAnonymous = (p: Principal, filter: string): boolean =>
    p.kind === 'service' && p.name === 'anonymous' && denyFilters.some((f) => filterCovers(f, filter))
  const counters: BrokerCounters = {
    connectionsRefusedRate: 0, connectionsRefusedMax: 0, oversizePackets: 0, aclDeniedPublish: 0,
    aclDeniedSubscribe: 0, inflightExceeded: 0, authFailures: 0, publishFailures: 0, staleWillsDropped: 0, idleClosed: 0,
  }

  function report(principal: Principal, deviceId: string, state: 'online' | 'offline'): void {
    const payload = Buffer.from(`{"v":1,"state":"${state}","ts":${Date.now()}}`)
    opts.onPublish(principal, deviceId, 'status', payload).catch((err: unknown) => {
      log?.error({ err, deviceId, state }, 'reporting connection state failed')
    })
  }

  const aedesOpts: AedesOptions = {
    // aedes would refuse keep-alive 0 or above the limit with CONNACK 6, which MQTT 3.1.1 does not
    // define (§3.2.2.3: 0–5). MQTT 3.1.1 cannot tell a client a shorter keep-alive either, so
    // every value is accepted and the idle limit in admit() closes connections silent too long.
    keepaliveLimit: 0,
    connectTimeout: limits.connectTimeoutMs,
    drainTimeout: limits.drainTimeoutMs,
    maxInflightInbound: limits.maxInflightPerClient,
    maxClientsIdLength: 64,
    maxTopicLevels: 8,
    preConnect(client, packet, done) {
      // MQTT-3.1.3-8: a zero-length client id with CleanSession 0 gets CONNACK 0x02; aedes 1.x
      // would invent an id. Refused in authenticate, the first step that can answer with a code.
      if (packet.clientId.length === 0 && !packet.clean) emptyIdPersistent.add(client)
      done(null, true)
    },
    authenticate(client, username, password, done) {
      if (emptyIdPersistent.has(client)) {
        done(authError(2, 'zero-length client id requires clean session (MQTT-3.1.3-8)') as never, false)
        return
      }
      if (username === undefined || username === '') {
        if (anon) {
          states.set(client, { principal: { kind: 'service', name: 'anonymous' }, inflight: 0 })
          done(null, true)
          return
        }
        counters.authFailures++
        done(authError(4, 'credentials required') as never, false)
        return
      }
      opts.authenticate(username, password ?? Buffer.alloc(0)).then(
        (principal) => {
          if (principal === null) {
            counters.authFailures++
            done(authError(4, 'bad user name or password') as never, false)
            return
          }
          if (principal.kind === 'device' || principal.kind === 'gateway') {
            const ownId = principal.kind === 'device' ? principal.deviceId : principal.gatewayId
            // Client id = identity, so one device can never take over another's session (MQTT-3.1.4-2).
            if (client.id !== ownId) {
              counters.authFailures++
              done(authError(2, `client id must be ${ownId}`) as never, false)
              return
            }
          }
          if (principal.kind === 'device') {
            const c = client as Client & { _will: PublishPacket | null | undefined }
            if (c._will == null) {
              // Firmware without a will still goes offline when its connection drops.
              c._will = { cmd: 'publish', topic: topics.status(principal.deviceId), payload: OFFLINE_WILL, qos: 1, retain: true, dup: false }
            } else {
              const problem = willProblem(principal.deviceId, c._will)
              if (problem !== null) {
                counters.authFailures++
                log?.warn({ deviceId: principal.deviceId, problem }, 'connection refused: bad last will')
                done(authError(5, problem) as never, false)
                return
              }
            }
            latest.set(principal.deviceId, client)
          }
          states.set(client, { principal, inflight: 0 })
          if (principal.kind !== 'service') byClientId.set(client.id, client)
          done(null, true)
        },
        (err: unknown) => {
          log?.error({ err }, 'authentication backend failed')
          done(authError(3, 'authentication unavailable') as never, false)
        },
      )
    },
    authorizePublish(client, packet, callback) {
      const willOf = (packet as PublishPacket & { brokerId?: string }).brokerId
      if (willOf !== undefined && willOf !== aedes.id) return deadBrokerWill(client, packet, callback)
      if (client === null) return callback(null)
      const st = states.get(client)
      if (st === undefined) return callback(new Error('not authenticated'))
      const decision = authorizePublishTopic(st.principal, packet.topic, anon)
      if (!decision.ok && decision.ackAndDrop) {
        counters.aclDeniedPublish++
        dropped.add(packet)
        log?.debug({ clientId: client.id, topic: packet.topic, detail: decision.detail }, 'publish acknowledged and dropped')
        return callback(null)
      }
      if (!decision.ok) {
        counters.aclDeniedPublish++
        log?.warn({ clientId: client.id, topic: packet.topic, detail: decision.detail }, 'publish refused; closing connection')
        // MQTT 3.1.1 has no negative PUBACK: closing is the refusal (MQTT-3.3.5-2).
        return callback(new ForewarnError(ErrorCode.NOT_AUTHORIZED, decision.detail))
      }
      if (decision.deviceId === null) return callback(null)
      const deviceId = decision.deviceId
      const isWill = packet === (client as Client & { will: unknown }).will
      if (isWill && st.principal.kind === 'device') {
        if (latest.get(deviceId) !== client) {
          // The device already reconnected: this will would overwrite its retained "online".
          counters.staleWillsDropped++
          return callback(new Error('stale will'))
        }
        latest.delete(deviceId)
      }
      if (!isWill && st.inflight >= limits.maxInflightPerClient) {
        counters.inflightExceeded++
        log?.warn({ clientId: client.id, inflight: st.inflight }, 'in-flight limit exceeded; closing connection')
        return callback(new Error('in-flight limit exceeded'))
      }
      st.inflight++
      opts.onPublish(st.principal, deviceId, decision.kind, packet.payload as Buffer).then(
        () => {
          st.inflight--
          callback(null)
        },
        (err: unknown) => {
          st.inflight--
          counters.publishFailures++
          log?.warn({ err, deviceId }, 'commit failed: no PUBACK, the device will resend')
          callback(err instanceof Error ? err : new Error(String(err)))
        },
      )
    },
    authorizeSubscribe(client, sub, callback) {
      const st = states.get(client)
      if (st !== undefined && authorizeSubscribeFilter(st.principal, sub.topic, anon) && !deniedToAnonymous(st.principal, sub.topic)) return callback(null, sub)
      counters.aclDeniedSubscribe++
      // null → SUBACK return code 0x80 for this filter (MQTT 3.1.1 §3.9.3).
      callback(null, null)
    },
    authorizeForward(client, packet: AedesPublishPacket) {
      const st = states.get(client)
      if (st === undefined || !mayReceive(st.principal, packet.topic, anon)) return null
      return packet
    },
  }
  /**
   * With shared (Redis) state, a new broker publishes the wills a dead one left behind. A device
   * that has already reconnected here must not be reported offline by its old will; one that has
   * not is offline, and its will was validated when it was stored.
   */
  function deadBrokerWill(client: Client | null, packet: PublishPacket, callback: (err?: Error | null) => void): void {
    const t = parseDeviceTopic(packet.topic)
    if (client !== null) {
      counters.staleWillsDropped++
      callback(new Error('stale will of a dead broker'))
      return
    }
    if (t === null || t.kind !== 'status') {
      callback(null)
      return
    }
    opts.onPublish({ kind: 'device', deviceId: t.deviceId }, t.deviceId, 'status', packet.payload as Buffer).then(
      () => callback(null),
      (err: unknown) => callback(err instanceof Error ? err : new Error(String(err))),
    )
  }

  if (opts.persistence !== undefined) aedesOpts.persistence = opts.persistence
  // aedes' default emitter runs at most 100 messages at a time and queues the rest; when a queued
  // message completes synchronously it starts the next one inside its own call stack, so a
  // backlog of a few thousand (a QoS 1 subscriber slower than the publishers: `forewarn bench`'s
  // aedes relay step, 2 runs in 3) overflowed the stack and killed the process. Unlimited
  // concurrency never queues; the queue had no bound either, so memory is held the same way.
  aedesOpts.mq = opts.mq ?? mqemitter({ concurrency: 0, matchEmptyLevels: true })
  const aedes = await Aedes.createBroker(aedesOpts)
  // aedes acknowledges an authorized publish and then calls publish(): a dropped one stops here,
  // after its PUBACK/PUBREC, so it is neither retained nor forwarded.
  const publishAll = aedes.publish.bind(aedes) as unknown as (packet: PublishPacket, client: Client | null, done?: (err?: Error) => void) => void
  aedes.publish = function publish(packet: PublishPacket, client?: Client | ((err?: Error) => void) | null, done?: (err?: Error) => void): void {
    if (typeof client === 'function') return publishAll(packet, null, client)
    if (dropped.has(packet)) return done?.()
    publishAll(packet, client ?? null, done)
  } as unknown as typeof aedes.publish

  aedes.on('clientReady', (client) => {
    const st = states.get(client)
    if (st?.principal.kind !== 'device') return
    online.set(st.principal.deviceId, client)
    report(st.principal, st.principal.deviceId, 'online')
  })
  aedes.on('clientDisconnect', (client) => {
    if (byClientId.get(client.id) === client) byClientId.delete(client.id)
    const st = states.get(client)
    if (st?.principal.kind !== 'device') return
    const id = st.principal.deviceId
    if (online.get(id) === client) online.delete(id)
    // A clean DISCONNECT discards the will (MQTT-3.14.4-3), yet the device is offline all the same.
    if ((client as Client & { _disconnected?: boolean })._disconnected && latest.get(id) === client) {
      latest.delete(id)
      report(st.principal, id, 'offline')
      aedes.publish({ cmd: 'publish', topic: topics.status(id), payload: OFFLINE_WILL, qos: 1, retain: true, dup: false }, () => {})
    }
  })
  aedes.on('clientError', (client, err) => log?.debug({ clientId: client.id, err: err.message }, 'client error'))

  const rate = createRateLimiter(limits.connectionsPerAddressPerSec)
  const exempt = new Set(limits.rateLimitExempt)
  let connections = 0

  function admit(stream: Duplex, addr: string): void {
    if (connections >= limits.maxConnections) {
      counters.connectionsRefusedMax++
      stream.destroy()
      return
    }
    if (!exempt.has(addr) && !rate.allow(addr)) {
      counters.connectionsRefusedRate++
      log?.warn({ addr }, 'connection refused: too many attempts from this address')
      stream.destroy()
      return
    }
    connections++
    stream.once('close', () => connections--)
    guardPacketSize(stream, limits.maxPacketBytes, (bytes) => {
      counters.oversizePackets++
      log?.warn({ addr, bytes, max: limits.maxPacketBytes }, 'packet too large; connection closed')
    })
    aedes.handle(stream)
  }

  const idleMs = Math.round(limits.maxKeepAliveS * 1500)
  /** Dead or silent connections: TCP keep-alive probes, and an idle limit for keep-alive 0 or above the maximum. */
  const watchIdle = (socket: Socket): void => {
    socket.setKeepAlive(true, limits.tcpKeepAliveMs)
    socket.setTimeout(idleMs, () => {
      counters.idleClosed++
      socket.destroy()
    })
  }
  const onSocket = (socket: Socket): void => {
    socket.on('error', () => {})
    watchIdle(socket)
    admit(socket, socket.remoteAddress ?? 'unknown')
  }
  const host = opts.host ?? '127.0.0.1'
  const servers: (Server | HttpServer | TlsServer)[] = []
  const listen = (server: Server | HttpServer | TlsServer, port: number, at = host): Promise<number> =>
    new Promise((resolve, reject) => {
      server.once('error', reject)
      server.listen(port, at, () => {
        server.off('error', reject)
        servers.push(server)
        const a = server.address()
        resolve(typeof a === 'object' && a !== null ? a.port : port)
      })
    })

  let port: number
  let wsPort: number | null = null
  let tlsPort: number | null = null
  let wss: WebSocketServer | null = null
  try {
    port = await listen(createNetServer(onSocket), opts.port)
    if (opts.tls) {
      tlsPort = await listen(createTlsServer({ cert: opts.tls.cert, key: opts.tls.key }, onSocket), opts.tls.port, opts.tls.host ?? host)
    }
    if (opts.wsPort !== undefined) {
      const http = createHttpServer()
      wss = new WebSocketServer({ server: http, maxPayload: limits.maxPacketBytes })
      wss.on('connection', (ws, req) => {
        const stream = createWebSocketStream(ws)
        stream.on('error', () => {})
        watchIdle(req.socket)
        admit(stream, req.socket.remoteAddress ?? 'unknown')
      })
      wsPort = await listen(http, opts.wsPort, opts.wsHost ?? host)
    }
  } catch (cause) {
    await closeAll()
    throw new ForewarnError(ErrorCode.BROKER, `cannot listen: ${(cause as Error).message}`, { cause })
  }
  if (anon) log?.warn('anonymous MQTT clients allowed with unrestricted topics: for conformance testing only')

  async function closeAll(): Promise<void> {
    wss?.close()
    const closing = servers.map((s) => new Promise<void>((r) => s.close(() => r())))
    await new Promise<void>((r) => aedes.close(() => r()))
    // aedes closes its emitter but not its persistence (a Redis connection when configured).
    if (opts.persistence !== undefined) await (opts.persistence as { destroy?: () => Promise<void> }).destroy?.()
    await Promise.all(closing)
  }

  return {
    port,
    wsPort,
    tlsPort,
    aedes,
    publish: (topic, payload, o = {}) =>
      new Promise<void>((resolve, reject) => {
        const packet: PublishPacket = {
          cmd: 'publish', topic, payload: typeof payload === 'string' ? Buffer.from(payload) : payload,
          qos: o.qos ?? 0, retain: o.retain ?? false, dup: false,
        }
        aedes.publish(packet, (err) => (err ? reject(err) : resolve()))
      }),
    connectedDevices: () => online.size,
    disconnectDevice(deviceId) {
      latest.get(deviceId)?.close()
      online.get(deviceId)?.close()
    },
    disconnectClient(clientId) {
      byClientId.get(clientId)?.close()
    },
    counters: () => ({ ...counters }),
    close: closeAll,
  }
}
