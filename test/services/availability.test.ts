import { afterEach, describe, expect, it } from 'vitest'
import { serviceAvailable } from './availability.ts'

describe('serviceAvailable', () => {
  const path = process.env.PATH
  afterEach(() => {
    process.env.PATH = path
    delete process.env.FOREWARN_SERVICES_HIDE
    delete process.env.FOREWARN_PG_BIN
  })

  it('names the missing binary and the package that provides it', () => {
    process.env.PATH = '/nonexistent'
    expect(serviceAvailable('influxdb')).toEqual({ ok: false, reason: 'influxdb not installed (missing influxd; apt-get install influxdb)' })
  })

  it('says which PostgreSQL bin folder it looked for when there is none', () => {
    process.env.FOREWARN_PG_BIN = '/nonexistent/bin'
    expect(serviceAvailable('postgres')).toEqual({ ok: false, reason: 'postgres not installed (FOREWARN_PG_BIN=/nonexistent/bin does not hold initdb and postgres)' })
  })

  it('treats services listed in FOREWARN_SERVICES_HIDE as missing', () => {
    process.env.FOREWARN_SERVICES_HIDE = 'redis, mosquitto'
    expect(serviceAvailable('redis')).toEqual({ ok: false, reason: 'redis hidden by FOREWARN_SERVICES_HIDE' })
    expect(serviceAvailable('mosquitto').ok).toBe(false)
  })
})
