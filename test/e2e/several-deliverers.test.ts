/**
 * Issue 17, api role: several deliverers never send one ticket twice. Three `forewarn start`
 * processes share one PostgreSQL database, each with its own outbox worker delivering to one real
 * Request Tracker 5. Tickets opened in a burst are claimed with `FOR UPDATE SKIP LOCKED`
 * (api/store/outbox.ts): every ticket becomes exactly one RT ticket, and the three processes'
 * delivery attempts add up to one per ticket. (test/api/store.postgres.test.ts pins the claim
 * itself: two claims at once never take the same job.)
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import type { Counter } from 'prom-client'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { loadStartConfig } from '../../cli/config.ts'
import { startForewarn, type Running } from '../../cli/start.ts'
import { describeService } from '../services/availability.ts'
import { startPostgres, type PostgresService } from '../services/postgres.ts'
import { startRequestTracker, type RequestTrackerService } from '../services/request-tracker.ts'
import { event, fridge } from '../api/fixtures.ts'
import { waitFor } from './helpers.ts'

const ADMIN_KEY = 'e2e-deliverers-admin-key-0123456789'
const PROCESSES = 3
const TICKETS = 12

describeService(['postgres', 'request-tracker'], 'several deliverers on one PostgreSQL never send one ticket twice', () => {
  let postgres: PostgresService
  let rt: RequestTrackerService
  const runs: Running[] = []
  const dirs: string[] = []
  beforeAll(async () => {
    postgres = await startPostgres()
    rt = await startRequestTracker()
  }, 120_000)
  afterAll(async () => {
    for (const r of runs) await r.stop()
    await rt?.stop()
    await postgres?.stop()
    for (const d of dirs) rmSync(d, { recursive: true, force: true })
  })

  const rtGet = async <T>(path: string): Promise<T> => {
    const res = await fetch(`${rt.url}/REST/2.0${path}`, { headers: { authorization: rt.authorization } })
    expect(res.ok, `${path}: HTTP ${res.status}`).toBe(true)
    return (await res.json()) as T
  }
  /** Delivery attempts this process made to RT that ended delivered. */
  const delivered = async (run: Running): Promise<number> => {
    const counter = run.metrics.getSingleMetric('forewarn_delivery_attempts_total') as Counter | undefined
    const values = (await counter?.get())?.values ?? []
    return values.filter((v) => v.labels.adapter === 'rt' && v.labels.result === 'delivered').reduce((n, v) => n + v.value, 0)
  }

  it('three processes deliver a burst of tickets to Request Tracker: each exactly once', async () => {
    const databaseUrl = await postgres.createDatabase('deliverers')
    const env = { FOREWARN_ADMIN_KEY: ADMIN_KEY, RT_URL: rt.url, RT_USER: rt.user, RT_PASSWORD: rt.password, RT_QUEUE: 'General', DATABASE_URL: databaseUrl }
    for (let i = 0; i < PROCESSES; i++) {
      const dataDir = mkdtempSync(join(tmpdir(), 'forewarn-deliverers-'))
      dirs.push(dataDir)
      runs.push(await startForewarn(loadStartConfig({ dataDir, mqttPort: 0, apiPort: 0, simulate: 0 }, env), pino({ level: 'silent' }), env))
    }
    const store = runs[0]!.store
    const devices = await Promise.all(Array.from({ length: TICKETS }, (_, i) => store.createDevice({ ...fridge, serial: `DLV-${i}` }).then((r) => r.device.id)))
    // One burst of tickets while all three deliverers poll the outbox.
    const t0 = Date.now()
    const applied = await Promise.all(devices.map((id, i) => runs[i % PROCESSES]!.store.applyDetectorEvent(event(id), t0)))
    expect(applied.filter((r) => r.ticketCreated).length).toBe(TICKETS)
    const tickets = (await store.listTickets({ limit: 100 })).items
    expect(tickets.length).toBe(TICKETS)

    const started = Date.now()
    const jobs = await waitFor('every RT job delivered', async () => {
      const items = (await store.listOutbox({ limit: 100, adapter: 'rt' })).items
      return items.length === TICKETS && items.every((j) => j.state === 'delivered') ? items : undefined
    }, 180_000, 500).catch(async (err: unknown) => {
      const items = (await store.listOutbox({ limit: 100, adapter: 'rt' })).items
      console.log(JSON.stringify(items.map((j) => [j.state, j.attempts, j.lastError])))
      throw err
    })
    console.log(`several deliverers: ${TICKETS} tickets delivered in ${Date.now() - started} ms`)
    // Each job once: one RT ticket per Forewarn ticket, and one delivered attempt in all processes.
    const found = await rtGet<{ count: number; total: number; items: { id: string }[] }>(`/tickets?query=${encodeURIComponent("Queue = 'General'")}&per_page=100`)
    const subjects = await Promise.all(found.items.map(async (t) => (await rtGet<{ Subject: string }>(`/ticket/${t.id}`)).Subject))
    const forewarnIds = subjects.map((s) => /^\[Forewarn ([^\]]+)\]/.exec(s)?.[1])
    const perProcess = await Promise.all(runs.map(delivered))
    console.log(`several deliverers: RT deliveries per process ${perProcess.join(' + ')}, ${found.total} RT tickets for ${TICKETS} tickets; attempts ${jobs.map((j) => j.attempts).join(',')}; errors ${JSON.stringify(jobs.map((j) => j.lastError).filter((e) => e !== null))}`)
    expect(new Set(jobs.map((j) => j.externalRef)).size).toBe(TICKETS)
    expect(found.total).toBe(TICKETS)
    expect(forewarnIds.sort()).toEqual(tickets.map((t) => t.id).sort())
    expect(perProcess.reduce((a, b) => a + b, 0)).toBe(TICKETS)
  }, 240_000)
})
