import { describe, expect, it } from 'vitest'
import { ForewarnError } from '../../../domain/index.ts'
import pino from 'pino'
import { Registry } from 'prom-client'
import { describeInfluxConfig, influxConfigFromEnv, redactUrl } from '../../../ingest/sinks/influx-config.ts'
import { createInfluxSink } from '../../../ingest/sinks/influx.ts'

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

describe('credentials in INFLUX_URL', () => {
  it('redactUrl masks the password (or a lone user token) and leaves other URLs alone', () => {
    expect(redactUrl('http://fw:s3cr3t@db:8086')).toBe('http://fw:***@db:8086')
    expect(redactUrl('https://tok3n@db:8086/x')).toBe('https://***@db:8086/x')
    expect(redactUrl('http://db:8086')).toBe('http://db:8086')
    expect(redactUrl('http://db:8086/a@b')).toBe('http://db:8086/a@b')
  })

  it('describeInfluxConfig and a bad URL error never show the password', () => {
    const v1 = influxConfigFromEnv({ INFLUX_URL: 'http://fw:s3cr3t@db:8086', INFLUX_API: 'v1', INFLUX_DATABASE: 'd' })
    expect(describeInfluxConfig(v1!)).toBe('v1 http://fw:***@db:8086 db=d')
    expect(configError(() => influxConfigFromEnv({ INFLUX_URL: 'http://fw:s3cr3t@db:notaport', INFLUX_BUCKET: 'b' }))).not.toContain('s3cr3t')
  })

  it('the sink logs its unreachable target without the password', async () => {
    const lines: string[] = []
    const log = pino({ level: 'info' }, { write: (l: string) => lines.push(l) })
    const config = influxConfigFromEnv({ INFLUX_URL: 'http://fw:s3cr3t-pw@127.0.0.1:1', INFLUX_API: 'v1', INFLUX_DATABASE: 'd' })!
    const sink = await createInfluxSink(config, { log, spoolDir: null, registry: new Registry(), requestTimeoutMs: 2000 })
    try {
      const text = lines.join('')
      expect(text).toContain('database unreachable at start')
      expect(text).toContain('http://fw:***@127.0.0.1:1')
      expect(text).not.toContain('s3cr3t-pw')
      expect(JSON.stringify(sink.state())).not.toContain('s3cr3t-pw')
    } finally {
      await sink.close()
    }
  })
})
