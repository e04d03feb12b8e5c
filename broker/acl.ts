/**
 * Topic ACL as pure functions (no aedes, no IO): who may publish and subscribe where.
 * A device owns `appliances/{itsId}/…`; a gateway speaks only for the devices registered behind it;
 * the pipeline's service account reads `appliances/#` and writes `forewarn/#` and commands.
 */
import { type TopicKind, parseDeviceTopic } from '../domain/index.ts'

export type Principal =
  | { kind: 'device'; deviceId: string }
  | { kind: 'gateway'; gatewayId: string; deviceIds: ReadonlySet<string> }
  | { kind: 'service'; name: string }

export type PublishDecision =
  | { ok: true; deviceId: string; kind: TopicKind }
  | { ok: true; deviceId: null; kind: null }
  /**
   * Refused. MQTT 3.1.1 has no negative PUBACK: the broker either acknowledges and drops the
   * message (`ackAndDrop`) or closes the connection (MQTT-3.3.5-2).
   */
  | { ok: false; detail: string; ackAndDrop: boolean }

const deviceKinds: ReadonlySet<TopicKind> = new Set<TopicKind>(['telemetry', 'status', 'events'])

function speaksFor(p: Principal, deviceId: string): boolean {
  if (p.kind === 'device') return p.deviceId === deviceId
  if (p.kind === 'gateway') return p.deviceIds.has(deviceId)
  return false
}

/** `anonymous` is the conformance-testing principal of `--allow-anonymous`: anything but `$` topics. */
export function authorizePublishTopic(p: Principal, topic: string, anonymousAllowed = false): PublishDecision {
  // MQTT-4.7.2-1: `$` topics are the server's. Publishing to one is no protocol error, so the
  // message is acknowledged and dropped rather than the connection closed.
  if (topic.charCodeAt(0) === 36) return { ok: false, detail: '$ topics are reserved to the server', ackAndDrop: true }
  if (p.kind === 'service') {
    if (anonymousAllowed && p.name === 'anonymous') return { ok: true, deviceId: null, kind: null }
    if (topic.startsWith('forewarn/')) return { ok: true, deviceId: null, kind: null }
    const t = parseDeviceTopic(topic)
    if (t !== null && t.kind === 'commands') return { ok: true, deviceId: null, kind: null }
    return { ok: false, detail: `service may not publish on ${topic}`, ackAndDrop: false }
  }
  const t = parseDeviceTopic(topic)
  if (t === null) return { ok: false, detail: `not a device topic: ${topic}`, ackAndDrop: false }
  if (!speaksFor(p, t.deviceId)) return { ok: false, detail: `not authorized for device ${t.deviceId}`, ackAndDrop: false }
  if (!deviceKinds.has(t.kind)) return { ok: false, detail: `devices do not publish on ${t.kind}`, ackAndDrop: false }
  return { ok: true, deviceId: t.deviceId, kind: t.kind }
}

export function authorizeSubscribeFilter(p: Principal, filter: string, anonymousAllowed = false): boolean {
  if (p.kind === 'service') {
    if (anonymousAllowed && p.name === 'anonymous') return true
    // A literal first level: `#` or `+/…` would reach beyond the service's namespaces.
    return filter === 'appliances/#' || filter === 'forewarn/#' || filter.startsWith('appliances/') || filter.startsWith('forewarn/')
  }
  const t = parseDeviceTopic(filter)
  return t !== null && t.kind === 'commands' && speaksFor(p, t.deviceId)
}

/** Defence in depth: what the broker will ever forward to a client, whatever it subscribed to. */
export function mayReceive(p: Principal, topic: string, anonymousAllowed = false): boolean {
  if (p.kind === 'service') return anonymousAllowed && p.name === 'anonymous' ? true : topic.charCodeAt(0) !== 36
  const t = parseDeviceTopic(topic)
  return t !== null && t.kind === 'commands' && speaksFor(p, t.deviceId)
}

/**
 * Whether every topic `filter` can match is also matched by `cover` (both MQTT topic filters,
 * §4.7.1): `test/#` covers `test/nosubscribe` and `test/+`; `test/+` does not cover `test/#`.
 */
export function filterCovers(cover: string, filter: string): boolean {
  const c = cover.split('/')
  const f = filter.split('/')
  for (let i = 0; i < c.length; i++) {
    const level = c[i]
    if (level === '#') return i > 0 || f[0]?.charCodeAt(0) !== 36 // MQTT-4.7.2-1
    if (i >= f.length) return false
    if (level === '+') {
      if (f[i] === '#' || (i === 0 && f[0]?.charCodeAt(0) === 36)) return false
      continue
    }
    if (level !== f[i]) return false
  }
  return c.length === f.length
}
