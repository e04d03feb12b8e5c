/**
 * Ticket delivery as the composition root runs it: the adapters configured by environment
 * (Request Tracker, signed webhook), one outbox worker over the store, and the Request Tracker
 * status read-back. The pull feed needs nothing here: it reads the outbox's `feed` rows.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Logger } from 'pino'
import type { Registry } from 'prom-client'
import type { AsyncRecordsStore } from '../api/store/open.ts'
import { deliveryOutcomeMetrics } from '../api/plugins/metrics.ts'
import type { DeliveryAdapter } from '../api/delivery/types.ts'
import { createRtAdapter, rtConfigFromEnv } from '../api/delivery/rt.ts'
import { createWebhookAdapter, webhookConfigFromEnv } from '../api/delivery/webhook.ts'
import { createDeliveryWorker } from '../api/delivery/worker.ts'
import { createUpdatePoller, type UpdatePoller } from '../api/delivery/poller.ts'

export interface DeliveryConfig {
  maxAttempts: number
  baseDelayMs: number
  maxDelayMs: number
  pollMs: number
  rtPollMs: number
  /** The outbox lease of a claimed job; the worker starts a job only in its first half. */
  leaseMs: number
}

export const defaultDeliveryConfig: DeliveryConfig = {
  maxAttempts: 12,
  baseDelayMs: 1_000,
  maxDelayMs: 10 * 60_000,
  pollMs: 500,
  rtPollMs: 15_000,
  leaseMs: 30_000,
}

/** Adapters named by the environment; validated now, so a bad setting stops start-up with a clear error. */
export function deliveryAdaptersFromEnv(env: NodeJS.ProcessEnv): DeliveryAdapter[] {
  const adapters: DeliveryAdapter[] = []
  const rt = rtConfigFromEnv(env)
  if (rt) adapters.push(createRtAdapter(rt))
  const webhook = webhookConfigFromEnv(env)
  if (webhook) adapters.push(createWebhookAdapter(webhook))
  return adapters
}

export interface RunningDelivery {
  stop(): Promise<void>
}

/**
 * The outbox lease: the configured one, or more when a target's slowest job needs it. A job is
 * started only in the first half of its lease, so with a lease of at least twice the slowest job
 * (plus a second) a job a live deliverer started always ends before anyone can claim it again.
 */
export function deliveryLeaseMs(configured: number, adapters: readonly Pick<DeliveryAdapter, 'maxJobMs'>[]): number {
  const slowest = Math.max(0, ...adapters.map((a) => a.maxJobMs ?? 0))
  return Math.max(configured, slowest > 0 ? 2 * slowest + 1_000 : 0)
}

export function startDelivery(o: { store: AsyncRecordsStore; adapters: DeliveryAdapter[]; dataDir: string; log: Logger; metrics?: Registry; config?: Partial<DeliveryConfig> }): RunningDelivery {
  const cfg = { ...defaultDeliveryConfig, ...o.config }
  if (o.adapters.length === 0) return { stop: async () => undefined }
  const count = o.metrics ? deliveryOutcomeMetrics(o.metrics) : null
  const leaseMs = deliveryLeaseMs(cfg.leaseMs, o.adapters)
  const worker = createDeliveryWorker({
    outbox: o.store.outboxPort({ leaseMs }),
    leaseMs,
    adapters: o.adapters,
    maxAttempts: cfg.maxAttempts,
    baseDelayMs: cfg.baseDelayMs,
    maxDelayMs: cfg.maxDelayMs,
    pollMs: cfg.pollMs,
    onOutcome: (outcome) => {
      count?.(outcome)
      if (outcome.result === 'delivered') o.log.info(outcome, 'ticket delivered')
      else o.log.warn(outcome, 'ticket delivery did not succeed')
    },
  })
  worker.start()
  const pollers: UpdatePoller[] = []
  for (const adapter of o.adapters) {
    if (!adapter.pollUpdates) continue
    const cursorFile = join(o.dataDir, `${adapter.name}-updates.cursor`)
    const poller = createUpdatePoller({
      adapter,
      pollMs: cfg.rtPollMs,
      loadCursor: () => (existsSync(cursorFile) ? readFileSync(cursorFile, 'utf8') || null : null),
      saveCursor: (cursor) => {
        writeFileSync(`${cursorFile}.tmp`, cursor ?? '')
        renameSync(`${cursorFile}.tmp`, cursorFile)
      },
      apply: async (u) => {
        const ticket = await o.store.getTicket(u.ticketId)
        if (!ticket || ticket.state === u.state) return
        try {
          await o.store.transitionTicket(u.ticketId, { state: u.state, ...(u.outcome ? { outcome: u.outcome as never } : {}) })
        } catch (err) {
          // A change the lifecycle does not allow (e.g. reopening a resolved ticket) is logged, not retried forever.
          o.log.warn({ err, update: u }, 'ticket update from the ticketing system not applied')
        }
      },
      onError: (err) => o.log.warn({ err, adapter: adapter.name }, 'reading ticket updates failed; will retry'),
    })
    poller.start()
    pollers.push(poller)
  }
  return {
    async stop() {
      await Promise.all(pollers.map((p) => p.stop()))
      await worker.stop()
    },
  }
}
