/**
 * The whole system in one process on ephemeral ports: a small fleet over real MQTT with one
 * injected fault in accelerated time. Pins: exactly one ticket for the faulty device and its
 * fault code, none for healthy devices, and everything survives a restart.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { afterAll, describe, expect, it } from 'vitest'
import { loadStartConfig } from '../../cli/config.ts'
import { startForewarn, type Running } from '../../cli/start.ts'
import { runFleet } from '../../simulators/fleet.ts'
import type { ApplianceType } from '../../domain/index.ts'
import { apiCall, provision, waitFor } from './helpers.ts'

const ADMIN_KEY = 'e2e-admin-key-0123456789abcdef'
const DAY = 86_400_000

const api = <T>(run: Running, path: string, init: RequestInit = {}) => apiCall<T>(run.apiUrl, ADMIN_KEY, path, init)

interface Ticket { id: string; deviceId: string; fault: { code: string }; state: string }
interface Warning { id: string; deviceId: string; faultCode: string; state: string }
interface Page<T> { items: T[]; next: string | null }

describe('end to end on the embedded defaults', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'forewarn-e2e-'))
  const config = loadStartConfig({ dataDir, mqttPort: 0, apiPort: 0, simulate: 0 }, { FOREWARN_ADMIN_KEY: ADMIN_KEY, FOREWARN_HEALTH_FLUSH_MS: '100', FOREWARN_CHECKPOINT_MS: '200' })
  const log = pino({ level: 'silent' })
  let run: Running | undefined
  afterAll(async () => {
    await run?.stop()
    rmSync(dataDir, { recursive: true, force: true })
  })

  it('turns one injected fault into exactly one ticket and keeps everything across a restart', async () => {
    run = await startForewarn(config, log)
    const types: ApplianceType[] = ['refrigerator', 'air_conditioner', 'washing_machine', 'water_heater', 'refrigerator']
    const members = await provision(run.apiUrl, ADMIN_KEY, types, 'E2E')
    const days = 20
    // A day of slack: readings lost to power cuts and dropouts are never sent, so sending `days`
    // worth takes a little more event time than that, and event time never passes the clock.
    const startMs = Date.now() - (days + 1) * DAY
    const faulty = members[4]!
    const faultCode = 'REF-CFAN'
    const fleet = runFleet({
      brokerUrl: run.mqttUrl,
      members: members.map((m, i) => (i === 4
        ? { ...m, fault: { code: faultCode, component: 'condenser_fan', onsetMs: startMs + 4 * DAY, failureMs: startMs + 18 * DAY } }
        : m)),
      startMs,
      readingsPerDevice: days * 24 * 60,
      intervalMs: 5,
      batchSize: 240,
    })
    const summary = await fleet.done
    expect(summary.failed).toBe(0)
    expect(summary.acknowledged).toBe(summary.published)
    // Acknowledged means committed; wait until the detector has processed every committed reading
    // and the health records are flushed, so the state compared across the restart is final.
    await waitFor('the pipeline to drain', async () => (run!.ingest.stats().queued === 0 ? true : undefined), 60_000)
    await new Promise((r) => setTimeout(r, 600))

    const ticket = await waitFor('a ticket for the faulty appliance', async () => {
      const { body } = await api<Page<Ticket>>(run!, `/tickets?deviceId=${faulty.deviceId}`)
      return body.items.length > 0 ? body.items : undefined
    }, 30_000)
    expect(ticket.map((t) => t.fault.code)).toEqual([faultCode])

    const metrics = await (await fetch(`${run.apiUrl}/metrics`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } })).text()
    expect(metrics).toContain(`forewarn_ingest_readings_accepted ${summary.acknowledged}\n`)
    expect(metrics).toContain('forewarn_tickets_opened_total 1\n')

    const { body: all } = await api<Page<Ticket>>(run, '/tickets')
    expect(all.items.filter((t) => t.deviceId !== faulty.deviceId)).toEqual([])
    const { body: warnings } = await api<Page<Warning>>(run, '/warnings')
    expect(warnings.items.filter((w) => w.deviceId !== faulty.deviceId)).toEqual([])

    const before = {
      devices: (await api<Page<{ id: string }>>(run, '/devices')).body.items.map((d) => d.id).sort(),
      warnings: warnings.items.map((w) => w.id).sort(),
      tickets: all.items.map((t) => t.id).sort(),
      health: (await api<{ health: { overall: number } }>(run, `/devices/${faulty.deviceId}`)).body,
    }
    expect(before.devices).toHaveLength(5)
    await run.stop()

    run = await startForewarn(config, log)
    expect((await api<Page<{ id: string }>>(run, '/devices')).body.items.map((d) => d.id).sort()).toEqual(before.devices)
    expect((await api<Page<Warning>>(run, '/warnings')).body.items.map((w) => w.id).sort()).toEqual(before.warnings)
    expect((await api<Page<Ticket>>(run, '/tickets')).body.items.map((t) => t.id).sort()).toEqual(before.tickets)
    expect((await api<{ health: { overall: number } }>(run, `/devices/${faulty.deviceId}`)).body).toEqual(before.health)
  }, 240_000)
})
