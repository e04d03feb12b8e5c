import { Redis } from 'ioredis'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { describeService } from './availability.ts'
import { groupAlive } from './process.ts'
import { startRedis, type RedisService } from './redis.ts'

describeService('redis', 'Redis test server', () => {
  let redis: RedisService
  beforeAll(async () => {
    redis = await startRedis()
  })
  afterAll(async () => {
    await redis?.stop()
  })

  it('answers SET then GET', async () => {
    const client = new Redis(redis.url, { maxRetriesPerRequest: 1, lazyConnect: true })
    try {
      await client.connect()
      await client.set('smoke', 'value')
      expect(await client.get('smoke')).toBe('value')
    } finally {
      client.disconnect()
    }
  })

  it('leaves no process behind when stopped', async () => {
    await redis.stop()
    expect(groupAlive(redis.pid)).toBe(false)
  })
})
