/**
 * Forewarn records → InfluxDB line protocol, in the schema of domain/influx-schema.ts. Timestamps
 * are event times in milliseconds (precision=ms), so a point written twice lands on the same series
 * and time and overwrites itself: writes are idempotent.
 *
 * Readings, one line each at the full ingest rate, are encoded here directly: the series key of a
 * device (measurement and escaped tags, the library's `escape`) is built once and kept with its
 * tags; fields are appended in the order the device sent them (InfluxDB does not need them
 * sorted). With the library's `Point` (an object, a sort and a map per reading) the sink cost
 * ~15 µs of CPU per reading, more than the rest of the pipeline (docs/benchmarks.md). The rarer
 * records (health, warnings, tickets, pipeline) still go through `Point`.
 */
import { Point, escape } from '@influxdata/influxdb-client'
import { measurements, tagKeys, type DetectorEvent, type HealthCore, type Reading } from '../../domain/index.ts'
import type { DeviceTags, PipelineStats, TaggedReading, TicketSinkEvent } from '../sink.ts'

const msTime = { convertTime: (v: string | number | Date | undefined): string | undefined => (v === undefined ? undefined : String(v)) }

function deviceTags(p: Point, deviceId: string, tags: DeviceTags): Point {
  return p.tag(tagKeys.device, deviceId).tag(tagKeys.type, tags.type).tag(tagKeys.model, tags.model).tag(tagKeys.region, tags.region)
}

function line(p: Point): string | null {
  return p.toLineProtocol(msTime) ?? null
}

/** Series key of a device's telemetry, per tags object (the pipeline keeps one per device). */
const seriesKeys = new WeakMap<DeviceTags, { deviceId: string; key: string }>()
const fieldKeys = new Map<string, string>()

function seriesKey(deviceId: string, tags: DeviceTags): string {
  const hit = seriesKeys.get(tags)
  if (hit !== undefined && hit.deviceId === deviceId) return hit.key
  // Tags sorted by key, as the library writes them.
  const key = `${escape.measurement(measurements.telemetry)},${tagKeys.device}=${escape.tag(deviceId)},${tagKeys.model}=${escape.tag(tags.model)},${tagKeys.region}=${escape.tag(tags.region)},${tagKeys.type}=${escape.tag(tags.type)}`
  seriesKeys.set(tags, { deviceId, key })
  return key
}

function fieldKey(name: string): string {
  let k = fieldKeys.get(name)
  if (k === undefined) {
    k = escape.tag(name)
    // Metric names come from the catalogue; the bound only guards against a misbehaving caller.
    if (fieldKeys.size < 10_000) fieldKeys.set(name, k)
  }
  return k
}

/** One reading's line, or null when it has no finite metric. */
export function readingLine(r: Reading, tags: DeviceTags): string | null {
  let fields = ''
  for (const name in r.metrics) {
    const v = r.metrics[name] as number
    if (!Number.isFinite(v)) continue
    // `+ v` formats a number exactly as String(v), which is what Point.floatField writes.
    fields += `${fields === '' ? '' : ','}${fieldKey(name)}=${v}`
  }
  if (fields === '') return null
  return `${seriesKey(r.deviceId, tags)} ${fields} ${Math.trunc(r.ts)}`
}

/** Appends one line per reading; a reading without a finite metric yields no line. */
export function readingLines(batch: readonly TaggedReading[], out: string[]): void {
  for (const { reading, tags } of batch) {
    const l = readingLine(reading, tags)
    if (l !== null) out.push(l)
  }
}

export function healthLines(deviceId: string, tags: DeviceTags, core: HealthCore, atMs: number, out: string[]): void {
  const ts = Math.trunc(atMs)
  const overall = deviceTags(new Point(measurements.health), deviceId, tags)
    .tag(tagKeys.component, 'overall')
    .floatField('score', core.overall)
    .stringField('status', core.status)
    .timestamp(ts)
  const l = line(overall)
  if (l !== null) out.push(l)
  for (const [component, h] of Object.entries(core.components)) {
    const c = line(deviceTags(new Point(measurements.health), deviceId, tags).tag(tagKeys.component, component).floatField('score', h.score).timestamp(ts))
    if (c !== null) out.push(c)
  }
}

const warningEvent = { 'warning.raised': 'raised', 'warning.escalated': 'escalated', 'warning.cleared': 'cleared' } as const

export function warningLine(ev: DetectorEvent, tags: DeviceTags, detectedAtMs: number): string | null {
  const p = deviceTags(new Point(measurements.warnings), ev.deviceId, tags)
    .tag(tagKeys.faultCode, ev.faultCode)
    .tag(tagKeys.severity, ev.severity)
    .tag(tagKeys.event, warningEvent[ev.kind])
    .stringField('episode_id', ev.episodeId)
    .stringField('message', ev.message)
  if (ev.rul) p.floatField('rul_hours_median', ev.rul.medianHours)
  return line(p.timestamp(Math.trunc(detectedAtMs)))
}

export function ticketLine(e: TicketSinkEvent): string | null {
  const p = new Point(measurements.tickets)
    .tag(tagKeys.device, e.deviceId)
    .tag(tagKeys.type, e.type)
    .tag(tagKeys.faultCode, e.faultCode)
    .tag(tagKeys.priority, e.priority)
    .tag(tagKeys.event, e.event)
    .stringField('ticket_id', e.ticketId)
    .stringField('state', e.state)
    .stringField('sla_state', e.slaState)
  if (e.outcome !== undefined) p.stringField('outcome', e.outcome)
  return line(p.timestamp(Math.trunc(e.atMs)))
}

const integerStats = new Set(['accepted', 'rejected', 'batch_points', 'spool_bytes', 'retries'])

export function pipelineLine(stage: string, stats: PipelineStats, atMs: number): string | null {
  const p = new Point(measurements.pipeline).tag(tagKeys.stage, stage)
  for (const [k, v] of Object.entries(stats)) {
    if (typeof v !== 'number' || !Number.isFinite(v)) continue
    if (integerStats.has(k)) p.intField(k, Math.trunc(v))
    else p.floatField(k, v)
  }
  return line(p.timestamp(Math.trunc(atMs)))
}
