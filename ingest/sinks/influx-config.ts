/** InfluxDB sink configuration from environment variables (and flags, which win). */
import { ErrorCode, ForewarnError } from '../../domain/index.ts'

export type InfluxConfig =
  | { api: 'v2'; url: string; token: string; org: string; bucket: string }
  | { api: 'v1'; url: string; database: string; username: string | null; password: string | null }

/** Flag names as the CLI spells them (`--influx-url` → influxUrl). */
export interface InfluxFlags {
  influxUrl?: string
  influxApi?: string
  influxToken?: string
  influxOrg?: string
  influxBucket?: string
  influxDatabase?: string
  influxUsername?: string
  influxPassword?: string
}

/** `http://user:secret@host` → `http://user:***@host`: for logs, errors and /readyz. */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)([^/@]*)@/i, (_m, scheme: string, userinfo: string) => {
    const colon = userinfo.indexOf(':')
    return `${scheme}${colon === -1 ? '***' : `${userinfo.slice(0, colon)}:***`}@`
  })
}

const configError = (message: string): ForewarnError => new ForewarnError(ErrorCode.CONFIG, `InfluxDB sink: ${message}`)

/**
 * Reads INFLUX_URL, INFLUX_API (v2 default | v1), INFLUX_TOKEN, INFLUX_ORG, INFLUX_BUCKET,
 * INFLUX_DATABASE, INFLUX_USERNAME, INFLUX_PASSWORD. Without a URL the sink is off (null).
 * Throws ForewarnError FOREWARN_ERR_CONFIG on an incomplete or contradictory configuration.
 */
export function influxConfigFromEnv(env: Record<string, string | undefined>, flags: InfluxFlags = {}): InfluxConfig | null {
  const pick = (flag: string | undefined, name: string): string | undefined => {
    const v = flag ?? env[name]
    return v === undefined || v.trim() === '' ? undefined : v.trim()
  }
  const rawUrl = pick(flags.influxUrl, 'INFLUX_URL')
  if (rawUrl === undefined) return null
  let parsed: URL
  try {
    parsed = new URL(rawUrl)
  } catch {
    throw configError(`INFLUX_URL ${JSON.stringify(redactUrl(rawUrl))} is not a URL`)
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw configError(`INFLUX_URL must be http(s), got ${parsed.protocol}`)
  if (parsed.search || parsed.hash) throw configError('INFLUX_URL must not carry a query or fragment')
  const url = parsed.href.replace(/\/+$/, '')
  const api = pick(flags.influxApi, 'INFLUX_API') ?? 'v2'
  if (api === 'v2') {
    const bucket = pick(flags.influxBucket, 'INFLUX_BUCKET')
    if (!bucket) throw configError('INFLUX_API=v2 needs INFLUX_BUCKET (and INFLUX_TOKEN, INFLUX_ORG for InfluxDB 2.x/Cloud)')
    if (pick(flags.influxDatabase, 'INFLUX_DATABASE')) throw configError('INFLUX_DATABASE is for INFLUX_API=v1; with v2 use INFLUX_BUCKET')
    return { api, url, token: pick(flags.influxToken, 'INFLUX_TOKEN') ?? '', org: pick(flags.influxOrg, 'INFLUX_ORG') ?? '', bucket }
  }
  if (api === 'v1') {
    const database = pick(flags.influxDatabase, 'INFLUX_DATABASE')
    if (!database) throw configError('INFLUX_API=v1 needs INFLUX_DATABASE')
    const username = pick(flags.influxUsername, 'INFLUX_USERNAME') ?? null
    const password = pick(flags.influxPassword, 'INFLUX_PASSWORD') ?? null
    if ((username === null) !== (password === null)) throw configError('INFLUX_USERNAME and INFLUX_PASSWORD go together')
    return { api, url, database, username, password }
  }
  throw configError(`INFLUX_API must be v2 or v1, got ${JSON.stringify(api)}`)
}

/** The configuration with secrets masked, for logs and /readyz. */
export function describeInfluxConfig(c: InfluxConfig): string {
  const url = redactUrl(c.url)
  return c.api === 'v2' ? `v2 ${url} org=${c.org || '-'} bucket=${c.bucket}` : `v1 ${url} db=${c.database}${c.username ? ` user=${c.username}` : ''}`
}
