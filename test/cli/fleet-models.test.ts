/**
 * Learning from the fleet (issue 13, part 3), wired as `forewarn start` wires it: the catalogue
 * detector, the records store (embedded, in memory), ticket changes from the store. Data: the
 * SKAB pump rig (real), each valve1 run one pump.
 */
import pino from 'pino'
import { afterEach, expect, it } from 'vitest'
import { buildApi } from '../../api/app.ts'
import { onRepairActions } from '../../api/services/lifecycle.ts'
import { asyncStore, type AsyncRecordsStore } from '../../api/store/open.ts'
import { openSqliteStore } from '../../api/store/sqlite.ts'
import { createFleetModels, type FleetModels } from '../../cli/fleet-models.ts'
import { createCatalogueDetector, type CatalogueDetector } from '../../detectors/catalogue-detector.ts'
import { installCatalogue, type ApplianceSpec, type DetectorEvent, type Reading } from '../../domain/index.ts'
import { describeWithSkab, pumpSpec, skabRun } from '../fixtures/skab.ts'

const TYPE = 'circulation_pump'
const H = 3_600_000
const log = pino({ level: 'silent' })

interface Rig {
  store: AsyncRecordsStore
  detector: CatalogueDetector
  fleet: FleetModels
  stop(): void
}

/** The pieces as start.ts wires them: fleet learning hears ticket changes before the repair actions. */
async function rig(spec: ApplianceSpec, store: AsyncRecordsStore = asyncStore(openSqliteStore({ dataDir: null }))): Promise<Rig> {
  installCatalogue([spec])
  // Room for two whole rig runs per pump (the default keeps 2,000 rows).
  const detector = createCatalogueDetector({ engine: { historyRows: 4000 } })
  const fleet = createFleetModels({ store, detector, log, config: { refreshMs: 0 } })
  await fleet.load()
  const a = store.onTransition((c) => fleet.onTicketChange(c))
  const b = onRepairActions(store, (x) => { detector.repairAction?.(x.deviceId, x.component, x.kind) })
  return { store, detector, fleet, stop: () => { a(); b() } }
}

async function device(r: Rig, serial: string): Promise<string> {
  const { device: d } = await r.store.createDevice({ type: TYPE, model: 'SKAB rig', serial, region: 'lab', installDate: '2025-01-15', warranty: { standardEnd: '2030-01-15', extended: [] } })
  r.detector.ensureDevice(d.id, TYPE)
  return d.id
}

/** Feeds readings; detector events go to the store as the pipeline sends them. */
async function feed(r: Rig, readings: readonly Reading[]): Promise<(DetectorEvent & { row: number })[]> {
  const out: (DetectorEvent & { row: number })[] = []
  for (const [row, reading] of readings.entries()) {
    for (const e of r.detector.process(reading)) {
      out.push({ ...e, row })
      await r.store.applyDetectorEvent(e, Date.now())
    }
  }
  return out
}

const run = (n: number, id: string) => skabRun(n, id)
const preFault = (n: number, id: string) => { const x = run(n, id); return x.readings.slice(0, x.onset) }

afterEach(() => installCatalogue())

describeWithSkab('a type\'s normal, learnt across its healthy devices', () => {
  // A type whose own warm-up (1 h at 1 Hz) is longer than a whole rig run: alone, a new pump is never watched within one.
  const slow = (): ApplianceSpec => ({ ...pumpSpec(), warmupHours: 1 })

  it('watches a new pump from its first reading: it warns inside its fault, where alone it would still be warming up', async () => {
    const r = await rig(slow())
    const h1 = await device(r, 'H1')
    const h2 = await device(r, 'H2')
    // Two healthy pumps: the normal parts of four runs, two each, in event-time order.
    await feed(r, [...preFault(0, h1), ...preFault(1, h1)])
    await feed(r, [...preFault(2, h2), ...preFault(3, h2)])
    expect(r.fleet.info(TYPE)!.reference).toBeNull()
    await r.fleet.refresh()
    const ref = r.fleet.info(TYPE)!.reference!
    const rows = [0, 1, 2, 3].reduce((n, k) => n + preFault(k, 'x').length, 0)
    expect(ref).toMatchObject({ devices: 2, deviceIds: [h1, h2], rows, from: new Date(preFault(0, h1)[0]!.ts).toISOString(), to: new Date(preFault(3, h2).at(-1)!.ts).toISOString() })

    const fresh = await device(r, 'N1')
    const { readings, onset, end } = run(12, fresh)
    const first = (await feed(r, readings)).find((e) => e.kind === 'warning.raised')
    expect(first?.row).toBeGreaterThanOrEqual(onset)
    expect(first!.row).toBeLessThanOrEqual(end)

    // The same pump without a fleet: still learning its own normal when the run ends.
    const alone = await rig(slow())
    const lone = await device(alone, 'N1')
    expect(await feed(alone, run(12, lone).readings)).toEqual([])
    expect(alone.detector.health(lone)!.warmingUp).toBe(true)
    r.stop()
    alone.stop()
  })

  it('keeps the normal in the records store: a restart watches new pumps with it at once', async () => {
    const r = await rig(slow())
    const h1 = await device(r, 'H1')
    const h2 = await device(r, 'H2')
    await feed(r, [...preFault(0, h1), ...preFault(1, h1)])
    await feed(r, [...preFault(2, h2), ...preFault(3, h2)])
    // Too few healthy devices for a fleet's normal: nothing is learnt.
    const single = createFleetModels({ store: r.store, detector: r.detector, log, config: { refreshMs: 0, minDevices: 3 } })
    await single.refresh()
    expect(await r.store.getTypeModels(TYPE)).toBeNull()
    await r.fleet.refresh()
    r.stop()

    const again = await rig(slow(), r.store)
    expect(again.fleet.info(TYPE)!.reference).toEqual(r.fleet.info(TYPE)!.reference)
    const fresh = await device(again, 'N2')
    const { readings, onset } = run(12, fresh)
    const first = (await feed(again, readings)).find((e) => e.kind === 'warning.raised')
    expect(first?.row).toBeGreaterThanOrEqual(onset)

    const app = await buildApi({ store: r.store, typeModels: (t) => again.fleet.info(t) })
    const key = (await r.store.ensureAdminKey('fleet-models-admin-key-0123456789')).key ?? 'fleet-models-admin-key-0123456789'
    const res = await app.inject({ method: 'GET', url: `/catalogue/${TYPE}/model`, headers: { authorization: `Bearer ${key}` } })
    expect(res.statusCode).toBe(200)
    expect(res.json()).toMatchObject({ type: TYPE, watchedBy: 'engine', reference: { devices: 2, deviceIds: [h1, h2] }, failure: null })
    const fridge = await app.inject({ method: 'GET', url: '/catalogue/refrigerator/model', headers: { authorization: `Bearer ${key}` } })
    expect(fridge.json()).toMatchObject({ watchedBy: 'appliance-detector', reference: null })
    expect((await app.inject({ method: 'GET', url: '/catalogue/steam_turbine/model', headers: { authorization: `Bearer ${key}` } })).statusCode).toBe(404)
    await app.close()
    again.stop()
  })
})

describeWithSkab('failure signatures, learnt from parts replaced', () => {
  async function ticketOf(r: Rig, deviceId: string): Promise<string> {
    const page = await r.store.listTickets({ limit: 10, deviceId })
    expect(page.items).toHaveLength(1)
    return page.items[0]!.id
  }

  it('adds a pump\'s run to failure when its ticket is resolved with a part replaced (not as no fault found), and the next pump\'s remaining life comes from it', async () => {
    const r = await rig(pumpSpec())
    const failed = await device(r, 'F1')
    const failedRun = run(8, failed)
    // The pump runs on in its fault until the technician comes.
    await feed(r, failedRun.readings.slice(0, failedRun.end))
    const historyRows = r.detector.engine.history(failed)!.rows.length
    expect(historyRows).toBe(failedRun.end)

    // No fault found on another pump: no failure.
    const other = await device(r, 'F2')
    await feed(r, run(9, other).readings)
    await r.store.transitionTicket(await ticketOf(r, other), { state: 'resolved', outcome: 'no_fault_found' })
    await r.fleet.settled()
    expect(r.fleet.info(TYPE)!.failure).toBeNull()

    const t = await ticketOf(r, failed)
    await r.store.transitionTicket(t, { state: 'in_progress' })
    await r.store.transitionTicket(t, { state: 'resolved', outcome: 'part_replaced', partNumber: 'CP-VA-1002' })
    await r.fleet.settled()
    const failure = r.fleet.info(TYPE)!.failure!
    expect(failure).toMatchObject({ failures: 1, runs: [{ deviceId: failed, ticketId: t, rows: historyRows }] })
    // The repair reset the pump: its history starts afresh with the new part.
    expect(r.detector.engine.history(failed)!.rows).toHaveLength(0)

    // The next pump with a fault: remaining life from the fleet's failure, not from its own trend.
    const next = await device(r, 'N1')
    const nextRun = run(12, next)
    const raised = (await feed(r, nextRun.readings)).find((e) => e.kind === 'warning.raised')!
    const stored = JSON.parse((await r.store.getTypeModels(TYPE))!) as { failure: { model: { lifeMs: number[]; capMs: number } } }
    const lives = stored.failure.model.lifeMs.map((ms) => Math.round((ms / H) * 100) / 100)
    expect(raised.rul).not.toBeNull()
    expect(lives).toContain(raised.rul!.medianHours)
    expect(raised.rul!.highHours).toBeLessThanOrEqual(stored.failure.model.capMs / H + 0.01)

    // The same pump on a fleet without failures: the health index's trend gives another estimate.
    const plain = await rig(pumpSpec())
    const alone = await device(plain, 'N1')
    const trend = (await feed(plain, run(12, alone).readings)).find((e) => e.kind === 'warning.raised')!
    expect(trend.row).toBe(raised.row)
    expect(trend.rul).not.toEqual(raised.rul)
    r.stop()
    plain.stop()
  })
})
