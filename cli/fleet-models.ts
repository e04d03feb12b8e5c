/**
 * Learning from the fleet in the live pipeline, for the types the detection engine watches:
 *
 * - a type's normal (the engine's reference model) is learnt across its healthy devices' recent
 *   rows on a schedule, so a new machine is watched from its first reading rather than after its
 *   own warm-up;
 * - failure signatures: when a ticket is resolved with a part replaced, the device's rows since
 *   its last repair are its run to failure; the type's failure model is relearnt from all such
 *   runs, and remaining life then comes from the fleet's own failures. A ticket resolved as no
 *   fault found (or repaired without a part, or declined) is not a failure and adds nothing.
 *
 * Both are kept in the records store (one JSON document per type), loaded at start-up, and shown
 * at GET /catalogue/{type}/model. The learning itself is pure (detectors/engine-fleet.ts).
 */
import type { Logger } from 'pino'
import { learnFailureModel, learnReference, failureModelFrom, type DeviceHistory, type FailureModel } from '../detectors/engine-fleet.ts'
import type { BaselineModel } from '../detectors/engine.ts'
import type { CatalogueDetector } from '../detectors/catalogue-detector.ts'
import { loadedTypes } from '../domain/index.ts'
import type { AsyncRecordsStore } from '../api/store/open.ts'
import type { TicketChange } from '../api/store/types.ts'

export interface FleetModelsConfig {
  /** How often each type's normal is relearnt. */
  refreshMs: number
  /** Healthy devices a normal needs (one machine's normal is no fleet's). */
  minDevices: number
  /** Rows in all a normal needs. */
  minRows: number
  /** Runs to failure kept per type (the newest). */
  maxFailures: number
  /** Rows kept per run to failure (evenly thinned beyond this). */
  maxRowsPerFailure: number
}

export const defaultFleetModelsConfig: FleetModelsConfig = {
  refreshMs: 3_600_000, minDevices: 2, minRows: 200, maxFailures: 50, maxRowsPerFailure: 2000,
}

/** What GET /catalogue/{type}/model shows. */
export interface TypeModelInfo {
  type: string
  watchedBy: 'engine' | 'appliance-detector'
  reference: null | { devices: number; deviceIds: string[]; rows: number; from: string; to: string; learntAt: string }
  failure: null | { failures: number; rows: number; capHours: number; learntAt: string; runs: { deviceId: string; ticketId: string; resolvedAt: string; rows: number; from: string; to: string }[] }
}

interface FailureRun { deviceId: string; ticketId: string; resolvedAt: string; rows: number[][]; timesMs: number[] }

interface Stored {
  v: 1
  reference: null | { model: BaselineModel; deviceIds: string[]; rows: number; fromMs: number; toMs: number; learntAt: string }
  failure: null | { model: Omit<FailureModel, 'estimate'>; learntAt: string }
  runs: FailureRun[]
}

export interface FleetModels {
  /** Loads the stored models of every engine-watched type into the detector. */
  load(): Promise<void>
  /** Relearns every engine-watched type's normal now (the schedule calls it). */
  refresh(): Promise<void>
  /** The store's ticket listener: a part replaced adds a run to failure. */
  onTicketChange(change: TicketChange): void
  /** Resolves when learning started by ticket changes so far has been stored. */
  settled(): Promise<void>
  info(type: string): TypeModelInfo | null
  stop(): void
}

const iso = (ms: number): string => new Date(ms).toISOString()

export function createFleetModels(deps: { store: AsyncRecordsStore; detector: CatalogueDetector; log: Logger; config?: Partial<FleetModelsConfig> }): FleetModels {
  const cfg: FleetModelsConfig = { ...defaultFleetModelsConfig, ...deps.config }
  const { store, detector, log } = deps
  const state = new Map<string, Stored>()
  let chain: Promise<void> = Promise.resolve()
  let timer: NodeJS.Timeout | null = null

  const engineTypes = (): string[] => loadedTypes().filter((t) => detector.watchedByEngine(t))
  const stateOf = (type: string): Stored => state.get(type) ?? { v: 1, reference: null, failure: null, runs: [] }

  function apply(type: string, s: Stored): void {
    state.set(type, s)
    detector.engine.setModels(type, {
      reference: s.reference?.model,
      failure: s.failure ? failureModelFrom(s.failure.model) : undefined,
    })
  }

  const save = (type: string, s: Stored): Promise<void> => store.saveTypeModels(type, JSON.stringify(s))

  /** One ordered lane for learning and saving, so two changes never race on one type's document. */
  const enqueue = (what: string, fn: () => Promise<void>): Promise<void> => {
    chain = chain.then(fn).catch((err: unknown) => log.error({ err }, `${what} failed`))
    return chain
  }

  function thin(h: DeviceHistory): { rows: number[][]; timesMs: number[] } {
    const n = h.rows.length
    const step = Math.max(1, Math.ceil(n / cfg.maxRowsPerFailure))
    const rows: number[][] = []
    const timesMs: number[] = []
    // Keep the last row (the failure) and thin backwards from it.
    for (let i = n - 1; i >= 0; i -= step) { rows.push(Array.from(h.rows[i]!)); timesMs.push(h.timesMs[i]!) }
    return { rows: rows.reverse(), timesMs: timesMs.reverse() }
  }

  return {
    async load() {
      for (const type of engineTypes()) {
        const json = await store.getTypeModels(type)
        if (json === null) continue
        try {
          const s = JSON.parse(json) as Stored
          if (s.v === 1) apply(type, s)
        } catch (err) {
          log.warn({ err, type }, 'stored fleet models unreadable; relearning them')
        }
      }
      if (cfg.refreshMs > 0) timer = setInterval(() => void this.refresh(), cfg.refreshMs)
    },

    refresh() {
      return enqueue('learning a type\'s normal', async () => {
        for (const type of engineTypes()) {
          const healthy = detector.engine.devicesOf(type).filter((d) => d.healthy)
          const histories = healthy.map((d) => ({ id: d.id, h: detector.engine.history(d.id)! })).filter((x) => x.h.rows.length > 0)
          const rows = histories.reduce((n, x) => n + x.h.rows.length, 0)
          if (histories.length < cfg.minDevices || rows < cfg.minRows) continue
          const all: DeviceHistory = { rows: histories.flatMap((x) => x.h.rows), timesMs: histories.flatMap((x) => x.h.timesMs) }
          const model = learnReference(all)
          const s: Stored = {
            ...stateOf(type),
            reference: {
              model, deviceIds: histories.map((x) => x.id), rows,
              fromMs: Math.min(...histories.map((x) => x.h.timesMs[0]!)), toMs: Math.max(...histories.map((x) => x.h.timesMs.at(-1)!)), learntAt: iso(Date.now()),
            },
          }
          await save(type, s)
          apply(type, s)
          log.info({ type, devices: histories.length, rows }, 'learnt a type\'s normal from its healthy devices')
        }
      })
    },

    onTicketChange(c) {
      if (c.to !== 'resolved' || c.outcome !== 'part_replaced') return
      const deviceId = c.ticket.deviceId
      const type = c.ticket.appliance.type
      if (!detector.watchedByEngine(type)) return
      // Taken now, before the repair's reset starts the device's history afresh (this listener is registered first).
      const h = detector.engine.history(deviceId)
      if (!h || h.rows.length < 30) return
      const run: FailureRun = { deviceId, ticketId: c.ticket.id, resolvedAt: iso(c.atMs), ...thin(h) }
      void enqueue('learning failure signatures', async () => {
        const before = stateOf(type)
        const runs = [...before.runs, run].slice(-cfg.maxFailures)
        const { estimate: _estimate, track: _track, ...model } = learnFailureModel(runs.map((r) => ({ rows: r.rows, timesMs: r.timesMs })))
        const s: Stored = { ...before, runs, failure: { model, learntAt: iso(Date.now()) } }
        await save(type, s)
        apply(type, s)
        log.info({ type, failures: runs.length }, 'learnt failure signatures from a part replaced')
      })
    },

    settled: () => chain,

    info(type) {
      if (!loadedTypes().includes(type)) return null
      const s = state.get(type)
      return {
        type,
        watchedBy: detector.watchedByEngine(type) ? 'engine' : 'appliance-detector',
        reference: s?.reference
          ? { devices: s.reference.deviceIds.length, deviceIds: s.reference.deviceIds, rows: s.reference.rows, from: iso(s.reference.fromMs), to: iso(s.reference.toMs), learntAt: s.reference.learntAt }
          : null,
        failure: s?.failure
          ? {
            failures: s.runs.length, rows: s.failure.model.rows, capHours: s.failure.model.capMs / 3_600_000, learntAt: s.failure.learntAt,
            runs: s.runs.map((r) => ({ deviceId: r.deviceId, ticketId: r.ticketId, resolvedAt: r.resolvedAt, rows: r.rows.length, from: iso(r.timesMs[0]!), to: iso(r.timesMs.at(-1)!) })),
          }
          : null,
      }
    },

    stop() {
      if (timer) clearInterval(timer)
      timer = null
    },
  }
}
