import { afterAll, beforeAll, expect, it } from 'vitest'
import { describeService } from './availability.ts'
import { groupAlive } from './process.ts'
import { startRequestTracker, type RequestTrackerService } from './request-tracker.ts'

describeService('request-tracker', 'Request Tracker 5 test instance', () => {
  let rt: RequestTrackerService
  beforeAll(async () => {
    rt = await startRequestTracker()
  })
  afterAll(async () => {
    await rt?.stop()
  })

  it('creates a ticket and finds it by TicketSQL', async () => {
    const headers = { authorization: rt.authorization, 'content-type': 'application/json' }
    const created = await fetch(`${rt.url}/REST/2.0/ticket`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ Queue: 'General', Subject: 'smoke FW-E1', Content: 'compressor current rising' }),
    })
    expect(created.status).toBe(201)
    const id = Number(((await created.json()) as { id: number | string }).id)
    const query = encodeURIComponent("Subject LIKE 'smoke FW-E1'")
    const found = await fetch(`${rt.url}/REST/2.0/tickets?query=${query}`, { headers })
    const body = (await found.json()) as { count: number; items: { id: string }[] }
    expect(body.count).toBe(1)
    expect(body.items.map((t) => Number(t.id))).toEqual([id])
  })

  it('leaves no process behind when stopped', async () => {
    await rt.stop()
    expect(groupAlive(rt.pid)).toBe(false)
  })
})
