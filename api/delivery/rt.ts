/**
 * Request Tracker adapter (REST 2, RT 5). Creates the ticket in the configured queue unless RT
 * already holds one whose subject carries the Forewarn ticket id — RT has no idempotency key, so
 * the search before the create is what keeps a retry after a lost answer or a crash from creating
 * a second ticket. Status changes made in RT are read back from its transaction log.
 *
 * A create that went unanswered may still be carried out after we stopped waiting (RT under load
 * did: `test/e2e/several-deliverers.test.ts` once got 14 RT tickets for 12). So its retry waits
 * `UNANSWERED_SETTLE` deadlines before searching, and whenever RT holds more than one ticket for
 * one Forewarn ticket (a create that landed later still), the oldest is kept and the others are
 * rejected with a subject that names it, without the marker, so nothing reads them back as ours.
 */
import { ErrorCode, ForewarnError } from '../../domain/index.ts'
import type { TicketState } from '../../domain/index.ts'
import { fetchWithDeadline, readText, statusError } from './http.ts'
import { rtBody, rtSubject, subjectMarker, ticketIdFromSubject } from './rt-text.ts'
import type { DeliveryAdapter, TicketForDelivery, TicketUpdate, UpdatesPage } from './types.ts'

export interface RtConfig {
  /** Base URL of RT, without `/REST/2.0`. */
  url: string
  auth: { kind: 'basic'; user: string; password: string } | { kind: 'token'; token: string }
  queue: string
  timeoutMs: number
}

const configError = (msg: string) => new ForewarnError(ErrorCode.CONFIG, msg)

/** Null when RT is not configured (no RT_* variable set); a CONFIG error when it is set up half. */
export function rtConfigFromEnv(env: Readonly<Record<string, string | undefined>>): RtConfig | null {
  const get = (k: string) => {
    const v = env[k]?.trim()
    return v === undefined || v === '' ? undefined : v
  }
  const url = get('RT_URL')
  const user = get('RT_USER')
  const password = env.RT_PASSWORD === '' ? undefined : env.RT_PASSWORD
  const token = get('RT_TOKEN')
  if (url === undefined) {
    if ([user, password, token, get('RT_QUEUE')].some((v) => v !== undefined)) throw configError('RT_URL is required when any other RT_* setting is given')
    return null
  }
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    throw configError(`RT_URL is not a URL: ${url}`)
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw configError('RT_URL must be http(s)')
  let auth: RtConfig['auth']
  if (token !== undefined) {
    if (user !== undefined || password !== undefined) throw configError('set either RT_TOKEN or RT_USER with RT_PASSWORD, not both')
    auth = { kind: 'token', token }
  } else if (user !== undefined && password !== undefined) {
    auth = { kind: 'basic', user, password }
  } else if (user !== undefined) {
    throw configError('RT_USER is set but RT_PASSWORD is not')
  } else if (password !== undefined) {
    throw configError('RT_PASSWORD is set but RT_USER is not')
  } else {
    throw configError('RT_URL is set but no credentials: set RT_TOKEN, or RT_USER with RT_PASSWORD')
  }
  const timeoutMs = env.RT_TIMEOUT_MS === undefined ? 10_000 : Number(env.RT_TIMEOUT_MS)
  if (!Number.isInteger(timeoutMs) || timeoutMs < 100) throw configError('RT_TIMEOUT_MS must be an integer ≥ 100')
  return { url: url.replace(/\/+$/, '').replace(/\/REST\/2\.0$/, ''), auth, queue: get('RT_QUEUE') ?? 'General', timeoutMs }
}

/**
 * RT status → Forewarn state. RT's default lifecycle has new/open/stalled/resolved/rejected/deleted;
 * custom lifecycles may name Forewarn's states directly. `new` (nobody looked yet) maps to nothing.
 */
export const rtStatusMap: Readonly<Record<string, TicketState>> = {
  open: 'acknowledged',
  stalled: 'scheduled',
  resolved: 'resolved',
  rejected: 'cancelled',
  deleted: 'cancelled',
  acknowledged: 'acknowledged',
  scheduled: 'scheduled',
  'in progress': 'in_progress',
  in_progress: 'in_progress',
  cancelled: 'cancelled',
}

/** RT's numeric priority (0–100), so the queue sorts the way Forewarn ranks. */
const rtPriority: Readonly<Record<TicketForDelivery['priority'], number>> = { P1: 90, P2: 60, P3: 30 }

/** TicketSQL string literal (RT quotes with '…' and escapes with a backslash). */
export const ticketSqlString = (s: string): string => `'${s.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`

interface RtSearch<T> {
  items: T[]
  total: number
}

export interface RtAdapter extends DeliveryAdapter {
  pollUpdates(since: string | null): Promise<UpdatesPage>
  /** RT ticket ids whose subject carries this Forewarn ticket id, lowest first. */
  findTickets(ticketId: string): Promise<string[]>
}

/**
 * Deadlines a retry waits after a create went unanswered, before it searches for the ticket that
 * create may yet make: RT carries on with a request after the client gave up on it. A judgement,
 * not a bound (RT gives none); a create landing later still is caught by the search after the
 * next create or update of the ticket.
 */
export const UNANSWERED_SETTLE = 3

export function createRtAdapter(cfg: RtConfig): RtAdapter {
  const api = `${cfg.url}/REST/2.0`
  const authorization = cfg.auth.kind === 'token'
    ? `token ${cfg.auth.token}`
    : `Basic ${Buffer.from(`${cfg.auth.user}:${cfg.auth.password}`).toString('base64')}`
  const headers = { authorization, accept: 'application/json', 'user-agent': 'forewarn-rt/1' }

  async function call<T>(what: string, path: string, init: RequestInit = {}, unansweredRetryAfterMs = 0): Promise<T> {
    const label = `Request Tracker ${what}`
    const res = await fetchWithDeadline(label, api + path, { ...init, headers: { ...headers, ...init.headers } }, cfg.timeoutMs, unansweredRetryAfterMs)
    if (!res.ok) throw await statusError(label, res)
    const text = await readText(label, res)
    try {
      return JSON.parse(text) as T
    } catch (cause) {
      // A proxy's HTML error page with a 200: the server is not (yet) the RT we talk to.
      throw new ForewarnError(ErrorCode.DELIVERY, `${label}: answer is not JSON`, { cause, retriable: true })
    }
  }

  const search = <T>(kind: 'tickets' | 'transactions', query: string, extra: Record<string, string>) =>
    call<RtSearch<T>>(`${kind} search`, `/${kind}?${new URLSearchParams({ query, per_page: '100', ...extra })}`)

  async function findTickets(ticketId: string): Promise<string[]> {
    const marker = subjectMarker(ticketId)
    // LIKE is a substring match; the exact prefix check below keeps tk-1 from matching tk-10.
    const found = await search<{ id: string; Subject?: string }>('tickets', `Subject LIKE ${ticketSqlString(marker)}`, { fields: 'Subject', orderby: 'id', order: 'ASC' })
    return found.items.filter((t) => (t.Subject ?? '').startsWith(marker)).map((t) => String(t.id))
  }

  async function subjectsOf(ids: readonly string[]): Promise<Map<string, string>> {
    const out = new Map<string, string>()
    for (let i = 0; i < ids.length; i += 50) {
      const query = ids.slice(i, i + 50).map((id) => `id = ${Number(id)}`).join(' OR ')
      const page = await search<{ id: string; Subject?: string }>('tickets', query, { fields: 'Subject' })
      for (const t of page.items) out.set(String(t.id), t.Subject ?? '')
    }
    return out
  }

  /** Keeps the oldest of `ids` (ascending) and rejects the others as its duplicates; returns the oldest. */
  async function keepOldest(ticketId: string, ids: readonly string[]): Promise<string> {
    const [oldest, ...duplicates] = ids as [string, ...string[]]
    for (const id of duplicates) {
      await call('duplicate reject', `/ticket/${Number(id)}`, {
        method: 'PUT', headers: { 'content-type': 'application/json' },
        // One request: by the time a poll reads this status change, the subject no longer says Forewarn.
        body: JSON.stringify({ Subject: `Duplicate of #${Number(oldest)} (Forewarn ticket ${ticketId})`, Status: 'rejected' }),
      })
    }
    return oldest
  }

  return {
    name: 'rt',
    // A search, a create or an update, and the search after a create: three requests, each with its deadline.
    maxJobMs: 3 * cfg.timeoutMs,
    findTickets,
    async deliver(ticket, ctx) {
      const existing = await findTickets(ticket.id)
      const found = existing.length > 1 ? await keepOldest(ticket.id, existing) : existing[0]
      if (found !== undefined) {
        // A joined warning can raise the priority; setting it is idempotent, unlike a comment.
        if (ctx.event === 'ticket.updated') {
          await call('update', `/ticket/${Number(found)}`, {
            method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ Priority: rtPriority[ticket.priority] }),
          })
        }
        return { externalRef: found }
      }
      const created = await call<{ id: string | number }>('create', '/ticket', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          Queue: cfg.queue,
          Subject: rtSubject(ticket),
          Content: rtBody(ticket),
          ContentType: 'text/plain',
          Priority: rtPriority[ticket.priority],
        }),
      }, UNANSWERED_SETTLE * cfg.timeoutMs)
      // An earlier create of this ticket that went unanswered may have landed meanwhile.
      const landed = await findTickets(ticket.id)
      return { externalRef: landed.length > 1 ? await keepOldest(ticket.id, landed) : String(created.id) }
    },
    /**
     * `since` is the id of the last RT transaction seen: transaction ids only grow, so unlike
     * LastUpdated (whose TicketSQL reading depends on RT's time zone) the cursor cannot skip or
     * repeat a change. One page of at most 100 status changes per call.
     */
    async pollUpdates(since) {
      const after = since === null ? 0 : Number(since)
      if (!Number.isSafeInteger(after) || after < 0) throw new ForewarnError(ErrorCode.BAD_PAYLOAD, `bad Request Tracker cursor ${since}`)
      const page = await search<{ id: string; ObjectId: string; NewValue: string; Created: string }>(
        'transactions', `ObjectType = 'RT::Ticket' AND Type = 'Status' AND id > ${after}`,
        { fields: 'ObjectId,NewValue,Created', orderby: 'id', order: 'ASC' },
      )
      if (page.items.length === 0) return { updates: [], cursor: since }
      const subjects = await subjectsOf([...new Set(page.items.map((t) => String(t.ObjectId)))])
      const updates: TicketUpdate[] = []
      for (const tx of page.items) {
        const ticketId = ticketIdFromSubject(subjects.get(String(tx.ObjectId)) ?? '')
        const state = rtStatusMap[tx.NewValue]
        if (ticketId === null || state === undefined) continue
        updates.push({ ticketId, state, at: tx.Created, externalRef: String(tx.ObjectId) })
      }
      return { updates, cursor: String((page.items.at(-1) as { id: string }).id) }
    },
  }
}
