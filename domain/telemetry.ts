/**
 * Telemetry contract v1: one schema per message (STYLE.md 2) that validates MQTT payloads,
 * serves as the fastify schema and is the TypeScript type.
 */
import Type, { type Static } from 'typebox'
import { Compile } from 'typebox/compile'

export const METRIC_NAME_PATTERN = '^[a-z][a-z0-9_]{0,63}$'
export const MAX_METRICS_PER_READING = 64
export const MAX_READINGS_PER_BATCH = 1000

const Metrics = Type.Record(Type.String({ pattern: METRIC_NAME_PATTERN }), Type.Number(), {
  maxProperties: MAX_METRICS_PER_READING,
  description: 'metric name (unit in the name, e.g. cabinet_temp_c) → value',
})

/** Event time: milliseconds since the Unix epoch, as measured by the device. */
const EventTime = Type.Integer({ minimum: 0, description: 'event time, ms since epoch' })
/** Per-boot sequence number: starts at 0 after every firmware restart. */
const Seq = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER })
/** Firmware boot counter: increments on every restart, so (boot, seq) is unique per device. */
const Boot = Type.Integer({ minimum: 0, maximum: 2 ** 32 - 1 })

export const ReadingV1 = Type.Object(
  { ts: EventTime, seq: Seq, metrics: Metrics },
  { additionalProperties: false },
)
export type ReadingV1 = Static<typeof ReadingV1>

export const TelemetryV1 = Type.Object(
  { v: Type.Literal(1), boot: Boot, ts: EventTime, seq: Seq, metrics: Metrics },
  { additionalProperties: false },
)
export type TelemetryV1 = Static<typeof TelemetryV1>

/** Readings buffered while offline and uploaded at once. */
export const TelemetryBatchV1 = Type.Object(
  { v: Type.Literal(1), boot: Boot, readings: Type.Array(ReadingV1, { minItems: 1, maxItems: MAX_READINGS_PER_BATCH }) },
  { additionalProperties: false },
)
export type TelemetryBatchV1 = Static<typeof TelemetryBatchV1>

export const StatusV1 = Type.Object(
  {
    v: Type.Literal(1),
    state: Type.Union([Type.Literal('online'), Type.Literal('offline')]),
    ts: Type.Optional(EventTime),
    firmware: Type.Optional(Type.String({ maxLength: 64 })),
  },
  { additionalProperties: false },
)
export type StatusV1 = Static<typeof StatusV1>

/** An error code raised by the firmware itself (`appliances/{id}/events`). */
export const DeviceEventV1 = Type.Object(
  {
    v: Type.Literal(1),
    ts: EventTime,
    code: Type.String({ minLength: 1, maxLength: 32 }),
    detail: Type.Optional(Type.String({ maxLength: 256 })),
  },
  { additionalProperties: false },
)
export type DeviceEventV1 = Static<typeof DeviceEventV1>

export const checkTelemetry = Compile(TelemetryV1)
export const checkBatch = Compile(TelemetryBatchV1)
export const checkStatus = Compile(StatusV1)
export const checkDeviceEvent = Compile(DeviceEventV1)

/** A reading once decoded and attributed to its device (the device id comes from the topic, never the payload). */
export interface Reading {
  deviceId: string
  boot: number
  seq: number
  ts: number
  metrics: Record<string, number>
}

export type RejectReason =
  | 'malformed_json'
  | 'schema'
  | 'wrong_version'
  | 'non_finite'
  | 'unknown_metric'
  | 'future_timestamp'
  | 'stale_timestamp'
  | 'oversize'
  | 'unknown_device'
  | 'revoked_device'
  | 'bad_topic'

export type DecodeResult =
  /** `text`: the payload as decoded UTF-8 (what ingest journals). */
  | { ok: true; readings: Reading[]; text: string }
  | { ok: false; reason: RejectReason; detail: string }

export interface DecodeLimits {
  maxPayloadBytes: number
  /** Readings further ahead of `now` than this are refused (device clock skew allowance). */
  maxFutureSkewMs: number
  /** Readings older than this are refused (a batch after a long outage is still accepted). */
  maxAgeMs: number
}

export const defaultDecodeLimits: DecodeLimits = {
  maxPayloadBytes: 256 * 1024,
  maxFutureSkewMs: 5 * 60_000,
  maxAgeMs: 400 * 24 * 3600_000,
}

const metricNamePattern = new RegExp(METRIC_NAME_PATTERN)
/** Metric names already seen to match the pattern (bounded: names come from a catalogue). */
const goodMetricNames = new Set<string>()

/**
 * The common message, checked by hand: a strict subset of what `checkTelemetry` accepts (every
 * rule of TelemetryV1, finite metrics only). TypeBox's compiled check and its pattern test per
 * metric name were ~8 % of the event loop at full rate (forewarn bench, --cpu-prof); anything
 * this refuses goes through TypeBox as before, so error messages and edge cases are unchanged.
 */
export function isPlainTelemetryV1(o: Record<string, unknown>): o is TelemetryV1 {
  let keys = 0
  for (const k in o) {
    if (k !== 'v' && k !== 'boot' && k !== 'ts' && k !== 'seq' && k !== 'metrics') return false
    keys++
  }
  if (keys !== 5 || o.v !== 1) return false
  const { boot, ts, seq, metrics } = o
  if (!Number.isInteger(boot) || (boot as number) < 0 || (boot as number) > 2 ** 32 - 1) return false
  if (!Number.isInteger(ts) || (ts as number) < 0) return false
  if (!Number.isSafeInteger(seq) || (seq as number) < 0) return false
  if (typeof metrics !== 'object' || metrics === null || Array.isArray(metrics)) return false
  let n = 0
  for (const name in metrics) {
    if (!Number.isFinite((metrics as Record<string, unknown>)[name])) return false
    if (!goodMetricNames.has(name)) {
      if (!metricNamePattern.test(name)) return false
      if (goodMetricNames.size < 10_000) goodMetricNames.add(name)
    }
    if (++n > MAX_METRICS_PER_READING) return false
  }
  return true
}

function firstError(check: typeof checkTelemetry | typeof checkBatch, value: unknown): string {
  for (const e of check.Errors(value)) return `${e.instancePath || '/'} ${e.message}`
  return 'invalid'
}

/**
 * Decodes a telemetry payload (single or batch). Bad input is a returned value, never a throw
 * (STYLE.md 4). `knownMetrics`, when given, refuses metrics the device's type does not declare.
 */
export function decodeTelemetry(
  deviceId: string,
  payload: Uint8Array,
  nowMs: number,
  limits: DecodeLimits = defaultDecodeLimits,
  knownMetrics?: ReadonlySet<string>,
): DecodeResult {
  if (payload.byteLength > limits.maxPayloadBytes) {
    return { ok: false, reason: 'oversize', detail: `${payload.byteLength} bytes > ${limits.maxPayloadBytes}` }
  }
  let value: unknown
  const text = (Buffer.isBuffer(payload) ? payload : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength)).toString('utf8')
  try {
    value = JSON.parse(text)
  } catch (err) {
    return { ok: false, reason: 'malformed_json', detail: (err as Error).message }
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, reason: 'schema', detail: 'payload must be a JSON object' }
  }
  const v = (value as { v?: unknown }).v
  if (v !== 1) return { ok: false, reason: 'wrong_version', detail: `unsupported schema version ${JSON.stringify(v)}` }
  let readings: Reading[]
  if (isPlainTelemetryV1(value as Record<string, unknown>)) {
    const t = value as TelemetryV1
    readings = [{ deviceId, boot: t.boot, seq: t.seq, ts: t.ts, metrics: t.metrics }]
  } else if ('readings' in value) {
    if (!checkBatch.Check(value)) return { ok: false, reason: 'schema', detail: firstError(checkBatch, value) }
    const batch = value as TelemetryBatchV1
    readings = batch.readings.map((r) => ({ deviceId, boot: batch.boot, seq: r.seq, ts: r.ts, metrics: r.metrics }))
  } else {
    if (!checkTelemetry.Check(value)) return { ok: false, reason: 'schema', detail: firstError(checkTelemetry, value) }
    const t = value as TelemetryV1
    readings = [{ deviceId, boot: t.boot, seq: t.seq, ts: t.ts, metrics: t.metrics }]
  }
  for (const r of readings) {
    if (r.ts > nowMs + limits.maxFutureSkewMs) {
      return { ok: false, reason: 'future_timestamp', detail: `ts ${r.ts} is ${r.ts - nowMs} ms ahead of now` }
    }
    if (r.ts < nowMs - limits.maxAgeMs) {
      return { ok: false, reason: 'stale_timestamp', detail: `ts ${r.ts} is older than ${limits.maxAgeMs} ms` }
    }
    for (const name in r.metrics) {
      const x = r.metrics[name] as number
      if (!Number.isFinite(x)) return { ok: false, reason: 'non_finite', detail: `${name} is not finite` }
      if (knownMetrics && !knownMetrics.has(name)) {
        return { ok: false, reason: 'unknown_metric', detail: `${name} is not a metric of this appliance type` }
      }
    }
  }
  return { ok: true, readings, text }
}
