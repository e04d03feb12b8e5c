/**
 * Issue 6 end to end: `forewarn start` with Request Tracker settings turns a simulated fault into
 * exactly one RT ticket that carries what a technician needs (subject: Forewarn ticket id, serial,
 * fault; body: appliance, coverage, evidence, remaining life, parts, SLA deadlines).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { loadStartConfig } from '../../cli/config.ts'
import { startForewarn, type Running } from '../../cli/start.ts'
import { runFleet } from '../../simulators/fleet.ts'
import { describeService } from '../services/availability.ts'
import { startRequestTracker, type RequestTrackerService } from '../services/request-tracker.ts'
import { apiCall, provision, waitFor } from './helpers.ts'

const ADMIN_KEY = 'e2e-rt-admin-key-0123456789abcd'
const DAY = 86_400_000

describeService('request-tracker', 'a simulated fault becomes one Request Tracker ticket', () => {
  let rt: RequestTrackerService
  let run: Running | undefined
  const dataDir = mkdtempSync(join(tmpdir(), 'forewarn-rt-e2e-'))
  beforeAll(async () => {
    rt = await startRequestTracker()
  }, 120_000)
  afterAll(async () => {
    await run?.stop()
    await rt?.stop()
    rmSync(dataDir, { recursive: true, force: true })
  })

  const rtGet = async <T>(path: string): Promise<T> => {
    const res = await fetch(`${rt.url}/REST/2.0${path}`, { headers: { authorization: rt.authorization } })
    return (await res.json()) as T
  }

  it('delivers the ticket once, readable by a technician', async () => {
    const env = { FOREWARN_ADMIN_KEY: ADMIN_KEY, RT_URL: rt.url, RT_USER: rt.user, RT_PASSWORD: rt.password, RT_QUEUE: 'General' }
    run = await startForewarn(loadStartConfig({ dataDir, mqttPort: 0, apiPort: 0, simulate: 0 }, env), pino({ level: 'silent' }), env)
    const [healthy, faulty] = await provision(run.apiUrl, ADMIN_KEY, ['water_heater', 'refrigerator'], 'RT')
    // A day of slack: readings lost to power cuts and dropouts are never sent, so sending 20 days'
    // worth takes a little more than 20 days of event time, and event time never passes the clock.
    const startMs = Date.now() - 21 * DAY
    const fleet = runFleet({
      brokerUrl: run.mqttUrl,
      members: [healthy!, { ...faulty!, fault: { code: 'REF-CFAN', component: 'condenser_fan', onsetMs: startMs + 4 * DAY, failureMs: startMs + 18 * DAY } }],
      startMs, readingsPerDevice: 20 * 24 * 60, intervalMs: 5, batchSize: 240,
    })
    await fleet.done
    const { body: tickets } = await waitFor('a Forewarn ticket', async () => {
      const r = await apiCall<{ items: { id: string; deviceId: string; sla: { policy?: string } }[] }>(run!.apiUrl, ADMIN_KEY, '/tickets')
      return r.body.items.length > 0 ? r : undefined
    }, 30_000)
    expect(tickets.items.map((t) => t.deviceId)).toEqual([faulty!.deviceId])
    const ticketId = tickets.items[0]!.id

    const query = encodeURIComponent(`Subject LIKE '${ticketId}'`)
    const found = await waitFor('the ticket in Request Tracker', async () => {
      const r = await rtGet<{ count: number; items: { id: string }[] }>(`/tickets?query=${query}`)
      return r.count > 0 ? r : undefined
    }, 60_000, 500)
    expect(found.count).toBe(1)
    const rtTicket = await rtGet<{ Subject: string; Queue: { id: string } }>(`/ticket/${found.items[0]!.id}`)
    expect(rtTicket.Subject).toContain(ticketId)
    expect(rtTicket.Subject).toContain('REF-CFAN')
    expect(rtTicket.Subject).toContain('RT-1')
    const history = await rtGet<{ items: { id: string }[] }>(`/ticket/${found.items[0]!.id}/history`)
    let text = ''
    for (const tx of history.items) {
      const attachments = await rtGet<{ items: { id: string }[] }>(`/transaction/${tx.id}/attachments`)
      for (const a of attachments.items) {
        const att = await rtGet<{ Content?: string; ContentType?: string }>(`/attachment/${a.id}`)
        if (att.Content && att.ContentType === 'text/plain') text += Buffer.from(att.Content, 'base64').toString('utf8')
      }
    }
    // The text says which service level applies: a fault found early has a visit-by time, a breakdown an on-site time.
    const level = tickets.items[0]!.sla.policy === 'predicted' ? ['SERVICE LEVEL: PREDICTED FAULT', 'Visit by:'] : ['SERVICE LEVEL: BREAKDOWN', 'On site by:']
    for (const expected of [`Serial:          RT-1`, 'REF-CFAN — Condenser fan failure', 'RF-CF-2210  Condenser fan motor 12 V', 'Who pays:        manufacturer', 'Remaining life:', ...level]) {
      expect(text).toContain(expected)
    }
    if (process.env.FOREWARN_RT_SAMPLE) writeFileSync(process.env.FOREWARN_RT_SAMPLE, `Subject: ${rtTicket.Subject}\n\n${text}`)


    // Delivered once: the outbox job for RT is done and no second RT ticket appears on later polls.
    await new Promise((r) => setTimeout(r, 1500))
    expect((await rtGet<{ count: number }>(`/tickets?query=${query}`)).count).toBe(1)
  }, 240_000)
})
