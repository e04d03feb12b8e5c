/**
 * Delivery of tickets to ticketing systems: the adapters (Request Tracker, signed webhook) and the
 * port of the transactional outbox the worker drains. The store writes a ticket and its outbox
 * jobs in one transaction; the worker delivers each job with retries until it is delivered or dead.
 */
import type { TicketState } from '../../domain/index.ts'
import type { TicketRecord } from '../schemas.ts'

/** The full ticket as the API shows it (api/schemas.ts TicketSchema): everything a technician needs. */
export type TicketForDelivery = TicketRecord

export type OutboxEvent = 'ticket.created' | 'ticket.updated'

export interface DeliveryContext {
  /** 1 on the first try of this job, 2 on the first retry, … */
  attempt: number
  /** Stable across every attempt of one job (the outbox job id): receivers dedupe by it. */
  idempotencyKey: string
  /** What the job announces; adapters that only mirror the ticket may ignore it. */
  event: OutboxEvent
}

export interface DeliveryResult {
  /** The ticketing system's own id for the ticket (RT's ticket number), null when it has none. */
  externalRef: string | null
}

export interface TicketUpdate {
  /** Forewarn ticket id. */
  ticketId: string
  state: TicketState
  outcome?: string
  /** When the ticketing system made the change (ISO 8601). */
  at: string
  /** The ticketing system's id of the ticket. */
  externalRef?: string
}

export interface UpdatesPage {
  updates: TicketUpdate[]
  /** Pass back as `since` on the next poll; null when the system has nothing to resume from. */
  cursor: string | null
}

export interface DeliveryAdapter {
  /** Matches `OutboxJob.adapter`. */
  readonly name: string
  /**
   * Makes the ticket exist in the target exactly once, however often it is called for one job.
   * Throws ForewarnError(DELIVERY) with `retriable` true for outages (network, timeout, 429, 5xx)
   * and false for answers that will not change by retrying (bad request, bad credentials).
   */
  deliver(ticket: TicketForDelivery, ctx: DeliveryContext): Promise<DeliveryResult>
  /**
   * The longest one `deliver` call can take (its requests × their deadline). The outbox lease is
   * made at least twice this, so a job started in the first half of its lease ends inside it.
   */
  readonly maxJobMs?: number
  /** Reads state changes made in the ticketing system, oldest first, from `since` on. */
  pollUpdates?(since: string | null): Promise<UpdatesPage>
}

export interface OutboxJob {
  id: string
  ticketId: string
  /** Name of the adapter this job is for: one job per ticket change and adapter. */
  adapter: string
  /** Failed attempts so far. */
  attempts: number
  event: OutboxEvent
  payload: TicketForDelivery
}

export interface DeadJob extends OutboxJob {
  lastError: string
}

/**
 * What the worker needs from the store's outbox table. Synchronous like the embedded store; an
 * implementation may also lease claimed jobs (push their due time forward) so that two workers
 * never deliver one job at the same moment.
 */
export interface OutboxPort {
  /**
   * Pending jobs whose next attempt is due at `nowMs`, oldest first, at most `limit` — except a job
   * while an older pending job of the same ticket and adapter is not yet due: changes of one ticket
   * reach each target in order (a dead job no longer holds the others back).
   */
  claimDue(nowMs: number, limit: number): OutboxJob[]
  markDelivered(jobId: string, externalRef: string | null, nowMs: number): void
  /** Keeps the job pending with `attempts` failures, due again at `nextAttemptAtMs`. */
  markRetry(jobId: string, attempts: number, nextAttemptAtMs: number, error: string): void
  markDead(jobId: string, attempts: number, error: string): void
  listDead(limit: number, after?: string): { items: DeadJob[]; next: string | null }
  /** Puts a dead job back to pending with its attempts reset, due now; false when it is not dead. */
  replayDead(jobId: string): boolean
}

/** OutboxPort with every method answering a promise (PostgreSQL); the worker awaits either kind. */
export type AsyncOutboxPort = {
  [K in keyof OutboxPort]: (...a: Parameters<OutboxPort[K]>) => Promise<ReturnType<OutboxPort[K]>>
}
