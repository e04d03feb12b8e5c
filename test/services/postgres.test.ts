import pg from 'pg'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { describeService } from './availability.ts'
import { startPostgres, type PostgresService } from './postgres.ts'
import { groupAlive } from './process.ts'

describeService('postgres', 'PostgreSQL test server', () => {
  let server: PostgresService
  beforeAll(async () => {
    server = await startPostgres()
  })
  afterAll(async () => {
    await server?.stop()
  })

  it('answers SELECT 1', async () => {
    const client = new pg.Client({ connectionString: server.url })
    await client.connect()
    try {
      const res = await client.query<{ one: number }>('SELECT 1 AS one')
      expect(res.rows).toEqual([{ one: 1 }])
    } finally {
      await client.end()
    }
  })

  it('leaves no process behind when stopped', async () => {
    await server.stop()
    expect(groupAlive(server.pid)).toBe(false)
  })
})
