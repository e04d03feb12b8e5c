/**
 * Reads status changes back from ticketing systems that cannot call Forewarn (Request Tracker) and
 * hands each to `apply` — the API's ticket transition, which writes the device history. The cursor
 * is saved only after a page was applied, so a crash repeats a page rather than skipping it: `apply`
 * must treat a change it already has (or one the lifecycle no longer allows) as done, not as an error.
 */
import type { DeliveryAdapter, TicketUpdate } from './types.ts'

export interface UpdatePollerOptions {
  adapter: DeliveryAdapter
  pollMs: number
  loadCursor: () => string | null
  saveCursor: (cursor: string | null) => void
  /** Returns normally when the change is applied or was already in effect. */
  apply: (update: TicketUpdate) => void | Promise<void>
  onError?: (err: unknown) => void
}

export interface UpdatePoller {
  start(): void
  stop(): Promise<void>
  /** Polls until a page comes back empty (bounded); returns how many updates were applied. */
  pollOnce(maxPages?: number): Promise<number>
}

export function createUpdatePoller(opts: UpdatePollerOptions): UpdatePoller {
  const { adapter } = opts
  if (adapter.pollUpdates === undefined) throw new TypeError(`adapter ${adapter.name} cannot poll updates`)
  const poll = adapter.pollUpdates.bind(adapter)

  async function pollOnce(maxPages = 20): Promise<number> {
    let applied = 0
    for (let page = 0; page < maxPages; page++) {
      const since = opts.loadCursor()
      const { updates, cursor } = await poll(since)
      for (const u of updates) {
        await opts.apply(u)
        applied++
      }
      if (cursor !== since) opts.saveCursor(cursor)
      if (updates.length === 0 && cursor === since) break
    }
    return applied
  }

  let running = false
  let timer: NodeJS.Timeout | null = null
  let inFlight: Promise<void> | null = null
  const tick = (): void => {
    timer = null
    inFlight = pollOnce().then(
      () => undefined,
      (err: unknown) => opts.onError?.(err),
    ).finally(() => {
      inFlight = null
      if (running) timer = setTimeout(tick, opts.pollMs)
    })
  }
  return {
    start() {
      if (running) return
      running = true
      timer = setTimeout(tick, 0)
    },
    async stop() {
      running = false
      if (timer !== null) clearTimeout(timer)
      timer = null
      if (inFlight !== null) await inFlight
    },
    pollOnce,
  }
}
