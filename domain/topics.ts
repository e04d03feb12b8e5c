/**
 * MQTT topic contract (DESIGN.md "Contracts"). A device owns `appliances/{deviceId}/…`;
 * Forewarn publishes warnings under `forewarn/warnings/{deviceId}`.
 */
export const DEVICE_ID_PATTERN = '^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$'
const deviceIdRe = new RegExp(DEVICE_ID_PATTERN)

export type TopicKind = 'telemetry' | 'status' | 'events' | 'commands'
const kinds: ReadonlySet<string> = new Set<TopicKind>(['telemetry', 'status', 'events', 'commands'])

export const topics = {
  telemetry: (deviceId: string) => `appliances/${deviceId}/telemetry`,
  status: (deviceId: string) => `appliances/${deviceId}/status`,
  events: (deviceId: string) => `appliances/${deviceId}/events`,
  commands: (deviceId: string) => `appliances/${deviceId}/commands`,
  warnings: (deviceId: string) => `forewarn/warnings/${deviceId}`,
  /** What the pipeline's own service account subscribes to. */
  allTelemetry: 'appliances/+/telemetry',
  allStatus: 'appliances/+/status',
  allEvents: 'appliances/+/events',
} as const

export function isDeviceId(id: string): boolean {
  return deviceIdRe.test(id)
}

/** Splits `appliances/{id}/{kind}`; anything else (wildcards, extra levels, bad ids) is null. */
export function parseDeviceTopic(topic: string): { deviceId: string; kind: TopicKind } | null {
  const parts = topic.split('/')
  if (parts.length !== 3 || parts[0] !== 'appliances') return null
  const deviceId = parts[1] as string
  const kind = parts[2] as string
  if (!isDeviceId(deviceId) || !kinds.has(kind)) return null
  return { deviceId, kind: kind as TopicKind }
}
