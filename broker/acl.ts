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
  | { ok: false; detail: string }

const deviceKinds: ReadonlySet<TopicKind> = new Set<TopicKind>(['telemetry', 'status', 'events'])

function speaksFor(p: Principal, deviceId: string): boolean {
  if (p.kind === 'device') return p.deviceId === deviceId
  if (p.kind === 'gateway') return p.deviceIds.has(deviceId)
  return false
}

/** `anonymous` is the conformance-testing principal of `--allow-anonymous`: anything but `$` topics. */
export function authorizePublishTopic(p: Principal, topic: string, anonymousAllowed = false): PublishDecision {
  // MQTT-4.7.2-1: `$` topics are the server's; clients do not publish them.
  if (topic.charCodeAt(0) === 36) return { ok: false, detail: '$ topics are reserved to the server' }
  if (p.kind === 'service') {
    if (anonymousAllowed && p.name === 'anonymous') return { ok: true, deviceId: null, kind: null }
    if (topic.startsWith('forewarn/')) return { ok: true, deviceId: null, kind: null }
    const t = parseDeviceTopic(topic)
    if (t !== null && t.kind === 'commands') return { ok: true, deviceId: null, kind: null }
    return { ok: false, detail: `service may not publish on ${topic}` }
  }
  const t = parseDeviceTopic(topic)
  if (t === null) return { ok: false, detail: `not a device topic: ${topic}` }
  if (!speaksFor(p, t.deviceId)) return { ok: false, detail: `not authorized for device ${t.deviceId}` }
  if (!deviceKinds.has(t.kind)) return { ok: false, detail: `devices do not publish on ${t.kind}` }
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
