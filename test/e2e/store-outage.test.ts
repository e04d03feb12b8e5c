/**
 * Issue 14: a records-store outage loses no warning and no ticket. A real PostgreSQL is stopped
 * for 30 s while faults are being detected (from the first stored warning on) and started again;
 * afterwards the tickets equal the ground truth exactly, none twice, and the records (tickets,
 * warnings, each appliance's history) equal those of the same fleet run without the outage.
 * Meanwhile /readyz says not ready and why, and the retries are counted.
 * Figures: docs/journal.md ("Records-store outages"); rerun with
 * `npx vitest run test/e2e/store-outage.test.ts`.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import pino from 'pino'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { startForewarn, type Running } from '../../cli/start.ts'
import { describeService } from '../services/availability.ts'
import { freePort } from '../services/process.ts'
import { startPostgres, type PostgresService } from '../services/postgres.ts'
import { ADMIN_KEY, groundTruth, outcomeOf, runScenario, type Outcome } from './outage-scenario.ts'

const OUTAGE_MS = 30_000

describeService('postgres', 'a PostgreSQL outage while faults are detected', () => {
  let server: PostgresService
  const dirs: string[] = []
  const runs: Running[] = []
  const dbUrl = (name: string): string => server.url.replace(/\/postgres$/, `/${name}`)
  beforeAll(async () => {
    server = await startPostgres()
    const c = new pg.Client({ connectionString: server.url })
    await c.connect()
    for (const db of ['baseline', 'outage', 'restart']) await c.query(`CREATE DATABASE ${db}`)
    await c.end()
  }, 60_000)
  afterAll(async () => {
    for (const r of runs) await r.stop()
    await server?.resume()
    await server?.stop()
    for (const d of dirs) rmSync(d, { recursive: true, force: true })
  })
  const dataDir = (): string => {
    const d = mkdtempSync(join(tmpdir(), 'forewarn-outage-'))
    dirs.push(d)
    return d
  }

  let baselineOutcome: Outcome | null = null

  it('stores every effect once the server is back: tickets = ground truth, same records as without the outage', async () => {
    const quiet = pino({ level: 'silent' })
    const baseline = await runScenario({ dataDir: dataDir(), env: { DATABASE_URL: dbUrl('baseline') }, log: quiet, serialPrefix: 'OUT', intervalMs: 5, batchSize: 240 })
    await baseline.run.stop()
    baselineOutcome = baseline.outcome

    const lines: { level: number; msg: string }[] = []
    const log = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s) as { level: number; msg: string }) })
    interface During { status: number; records: { ok: boolean; state?: string; detail?: string } | undefined; retries: number }
    const seen: During[] = []
    const t0 = Date.now()
    const outage = await runScenario({
      dataDir: dataDir(), env: { DATABASE_URL: dbUrl('outage') }, log, serialPrefix: 'OUT', intervalMs: 40, batchSize: 60,
      onFirstWarning: async (run) => {
        // The scraper's key is checked against the store before the outage …
        expect(await retries(run)).toBe(0)
        await server.halt()
        await new Promise((r) => setTimeout(r, OUTAGE_MS))
        // Anonymous: with the store down no new key can be checked, and anyone may see the state.
        const ready = await fetch(`${run.apiUrl}/readyz`)
        const body = (await ready.json()) as { checks: Record<string, { ok: boolean; state?: string; detail?: string }> }
        // … so /metrics still answers it during the outage, retries already counted.
        const during = await retries(run)
        await server.resume()
        seen.push({ status: ready.status, records: body.checks.records, retries: during })
      },
    })
    runs.push(outage.run)
    const elapsedS = (Date.now() - t0) / 1000

    expect(seen).toHaveLength(1)
    const d = seen[0] as During
    expect(d.status).toBe(503)
    expect(d.records?.ok).toBe(false)
    // The caller sees the state, not the error text.
    expect(d.records?.state).toBe('records-store writes failing and retried; checkpoints held')
    expect(d.records?.detail).toBeUndefined()
    expect(d.retries).toBeGreaterThan(0)

    const truth = groundTruth('OUT')
    expect(baseline.outcome.ticketed).toEqual(truth)
    expect(outage.outcome.ticketed).toEqual(truth)
    expect(outage.outcome.tickets).toEqual(baseline.outcome.tickets)
    expect(outage.outcome.warnings).toEqual(baseline.outcome.warnings)
    expect(outage.outcome.history).toEqual(baseline.outcome.history)
    expect(outage.outcome.readings).toBe(baseline.outcome.readings)

    // Said once per outage, not per reading: one "unavailable" line and one "back" line.
    const unavailable = lines.filter((l) => l.msg.startsWith('records store unavailable'))
    const back = lines.filter((l) => l.msg.startsWith('records store writes succeed again'))
    expect(unavailable).toHaveLength(1)
    expect(back).toHaveLength(1)

    // A restart on the same data replays nothing new and duplicates nothing.
    const serialOf = outage.serialOf
    await outage.run.stop()
    runs.pop()
    const again = await restart(outage.run, dbUrl('outage'))
    runs.push(again)
    expect(await outcomeOf(again, serialOf)).toEqual({ ...outage.outcome, readings: 0 })

    console.log(`store outage (PostgreSQL stopped ${OUTAGE_MS / 1000} s from the first stored warning): ${outage.outcome.readings} readings, `
      + `tickets ${outage.outcome.ticketed.length} (ground truth ${truth.length}, baseline ${baseline.outcome.ticketed.length}), `
      + `warnings ${outage.outcome.warnings.length} (baseline ${baseline.outcome.warnings.length}), `
      + `${d.retries} store retries counted when the server came back, /readyz ${d.status} during; outage run ${elapsedS.toFixed(0)} s`)
  }, 240_000)

  it('stopped while the server is down: stop does not wait for it, and the next start replays what was not stored', async () => {
    expect(baselineOutcome).not.toBeNull()
    const quiet = pino({ level: 'silent' })
    const dir = dataDir()
    const [mqttPort, apiPort] = [await freePort(), await freePort()]
    let stopMs = 0
    const r = await runScenario({
      dataDir: dir, env: { DATABASE_URL: dbUrl('restart') }, log: quiet, serialPrefix: 'OUT', intervalMs: 40, batchSize: 60, mqttPort, apiPort,
      onFirstWarning: async (run) => {
        await server.halt()
        await new Promise((res) => setTimeout(res, 3_000))
        const t = Date.now()
        await run.stop()
        stopMs = Date.now() - t
        await server.resume()
        // Same data directory and ports: the fleet reconnects and resends what was not acknowledged.
        return startForewarn(run.config, quiet, { DATABASE_URL: dbUrl('restart') })
      },
    })
    runs.push(r.run)
    expect(stopMs).toBeLessThan(15_000)
    const base = baselineOutcome as Outcome
    expect(r.outcome.ticketed).toEqual(groundTruth('OUT'))
    expect(r.outcome.tickets).toEqual(base.tickets)
    expect(r.outcome.warnings).toEqual(base.warnings)
    expect(r.outcome.history).toEqual(base.history)
    console.log(`stopped ${(stopMs / 1000).toFixed(1)} s after PostgreSQL went down, restarted after it came back: tickets ${r.outcome.ticketed.length} `
      + `(ground truth ${groundTruth('OUT').length}), warnings ${r.outcome.warnings.length} (baseline ${base.warnings.length})`)
  }, 180_000)
})

async function retries(run: Running): Promise<number> {
  const res = await fetch(`${run.apiUrl}/metrics`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } })
  expect(res.status).toBe(200)
  const text = await res.text()
  let n = 0
  for (const m of text.matchAll(/^forewarn_store_write_retries_total\{[^}]*\} (\d+)$/gm)) n += Number(m[1])
  return n
}

async function restart(prev: Running, databaseUrl: string): Promise<Running> {
  return startForewarn(prev.config, pino({ level: 'silent' }), { DATABASE_URL: databaseUrl })
}
