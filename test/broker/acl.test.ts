import { describe, expect, it } from 'vitest'
import { authorizePublishTopic, filterCovers } from '../../broker/acl.ts'

describe('broker ACL rules', () => {
  it('filterCovers: a filter covers every filter whose topics it matches, and no other', () => {
    expect(filterCovers('test/nosubscribe', 'test/nosubscribe')).toBe(true)
    expect(filterCovers('test/nosubscribe', 'test/nosubscribe/x')).toBe(false)
    expect(filterCovers('test/#', 'test/nosubscribe')).toBe(true)
    expect(filterCovers('test/#', 'test')).toBe(true)
    expect(filterCovers('test/#', 'test/+/x')).toBe(true)
    expect(filterCovers('test/+', 'test/a')).toBe(true)
    expect(filterCovers('test/+', 'test/#')).toBe(false)
    expect(filterCovers('test/+', 'test/a/b')).toBe(false)
    expect(filterCovers('#', 'anything/at/all')).toBe(true)
    // MQTT-4.7.2-1: wildcards at the first level do not reach $ topics.
    expect(filterCovers('#', '$SYS/x')).toBe(false)
    expect(filterCovers('+/x', '$SYS/x')).toBe(false)
    expect(filterCovers('$SYS/#', '$SYS/x')).toBe(true)
  })

  it('a $ topic publish is acknowledged and dropped; another device’s topic closes the connection', () => {
    const fridge = { kind: 'device', deviceId: 'f1' } as const
    expect(authorizePublishTopic(fridge, '$SYS/x')).toMatchObject({ ok: false, ackAndDrop: true })
    expect(authorizePublishTopic(fridge, 'appliances/f2/telemetry')).toMatchObject({ ok: false, ackAndDrop: false })
    expect(authorizePublishTopic({ kind: 'service', name: 'anonymous' }, '$TopicA/B', true)).toMatchObject({ ok: false, ackAndDrop: true })
  })
})
