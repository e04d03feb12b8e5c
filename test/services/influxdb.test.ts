import { afterAll, beforeAll, expect, it } from 'vitest'
import { describeService } from './availability.ts'
import { startInfluxDB, type InfluxDBService } from './influxdb.ts'
import { groupAlive } from './process.ts'

describeService('influxdb', 'InfluxDB 1.6 test server', () => {
  let db: InfluxDBService
  beforeAll(async () => {
    db = await startInfluxDB({ database: 'smoke' })
  })
  afterAll(async () => {
    await db?.stop()
  })

  it('writes line protocol and reads it back with InfluxQL', async () => {
    const res = await fetch(`${db.url}/write?db=smoke&precision=ms`, { method: 'POST', body: 'm,k=a v=1 1000\nm,k=a v=2 2000\nm,k=a v=3 2000' })
    expect(res.status).toBe(204)
    const rows = await db.query('SELECT count(v), sum(v) FROM m')
    expect(rows).toEqual([{ name: 'm', time: 0, count: 2, sum: 4 }])
  })

  it('keeps its data across halt and resume on the same port', async () => {
    const before = db.pid()
    await db.halt()
    expect(groupAlive(before)).toBe(false)
    await db.resume()
    expect(await db.query('SELECT count(v) FROM m')).toEqual([{ name: 'm', time: 0, count: 2 }])
  })

  it('leaves no process behind when stopped', async () => {
    const pid = db.pid()
    await db.stop()
    expect(groupAlive(pid)).toBe(false)
  })
})
