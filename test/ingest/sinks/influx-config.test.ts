import { describe, expect, it } from 'vitest'
import { ForewarnError } from '../../../domain/index.ts'
import { influxConfigFromEnv } from '../../../ingest/sinks/influx-config.ts'

function configError(fn: () => unknown): string {
  try {
    fn()
  } catch (err) {
    expect(err).toBeInstanceOf(ForewarnError)
    expect((err as ForewarnError).code).toBe('FOREWARN_ERR_CONFIG')
    return (err as Error).message
  }
  throw new Error('expected a configuration error')
}

describe('influxConfigFromEnv', () => {
  it('is off without INFLUX_URL', () => {
    expect(influxConfigFromEnv({})).toBeNull()
    expect(influxConfigFromEnv({ INFLUX_URL: '  ', INFLUX_BUCKET: 'b' })).toBeNull()
  })

  it('defaults to the v2 API', () => {
    expect(influxConfigFromEnv({ INFLUX_URL: 'http://db:8086/', INFLUX_TOKEN: 't', INFLUX_ORG: 'o', INFLUX_BUCKET: 'b' })).toEqual({
      api: 'v2', url: 'http://db:8086', token: 't', org: 'o', bucket: 'b',
    })
  })

  it('reads the v1 settings and lets flags win over the environment', () => {
    const env = { INFLUX_URL: 'http://a:8086', INFLUX_API: 'v1', INFLUX_DATABASE: 'envdb', INFLUX_USERNAME: 'u', INFLUX_PASSWORD: 'p' }
    expect(influxConfigFromEnv(env, { influxDatabase: 'flagdb', influxUrl: 'https://b:8086' })).toEqual({
      api: 'v1', url: 'https://b:8086', database: 'flagdb', username: 'u', password: 'p',
    })
  })

  it('refuses incomplete or contradictory settings with a clear message', () => {
    expect(configError(() => influxConfigFromEnv({ INFLUX_URL: 'http://a' }))).toMatch(/INFLUX_BUCKET/)
    expect(configError(() => influxConfigFromEnv({ INFLUX_URL: 'http://a', INFLUX_API: 'v1' }))).toMatch(/INFLUX_DATABASE/)
    expect(configError(() => influxConfigFromEnv({ INFLUX_URL: 'http://a', INFLUX_API: 'v3', INFLUX_BUCKET: 'b' }))).toMatch(/v2 or v1/)
    expect(configError(() => influxConfigFromEnv({ INFLUX_URL: 'not a url' }))).toMatch(/not a URL/)
    expect(configError(() => influxConfigFromEnv({ INFLUX_URL: 'ftp://a', INFLUX_BUCKET: 'b' }))).toMatch(/http/)
    expect(configError(() => influxConfigFromEnv({ INFLUX_URL: 'http://a', INFLUX_API: 'v1', INFLUX_DATABASE: 'd', INFLUX_USERNAME: 'u' }))).toMatch(/go together/)
    expect(configError(() => influxConfigFromEnv({ INFLUX_URL: 'http://a', INFLUX_BUCKET: 'b', INFLUX_DATABASE: 'd' }))).toMatch(/v1/)
  })
})
