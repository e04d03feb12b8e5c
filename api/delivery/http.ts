/**
 * The HTTP rules both adapters share: every request has a deadline (AbortSignal.timeout), and a
 * failure is classified once — outages retriable, answers that retrying cannot change not.
 */
import { ErrorCode, ForewarnError } from '../../domain/index.ts'

/** 408, 429 and 5xx may pass later; other 4xx will not (RFC 9110 15.5, RFC 6585 4). */
export const retriableStatus = (status: number): boolean => status === 408 || status === 429 || status >= 500

/**
 * fetch with a deadline; network errors and timeouts become retriable DELIVERY errors.
 *
 * A request that was sent but not answered in time may still be carried out: the server does not
 * stop working when we stop waiting (measured: a Request Tracker under load answered a create
 * after the 10 s deadline, and a retry's search, a few seconds later, did not find the ticket yet,
 * so it created a second). When `unansweredRetryAfterMs` is given (for requests that are not
 * idempotent), a timed-out request's error says to wait that long before trying again.
 */
export async function fetchWithDeadline(
  what: string, url: string, init: RequestInit, timeoutMs: number, unansweredRetryAfterMs = 0,
): Promise<Response> {
  try {
    return await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) })
  } catch (cause) {
    const timedOut = cause instanceof Error && (cause.name === 'TimeoutError' || cause.name === 'AbortError')
    const reason = timedOut ? `no answer within ${timeoutMs} ms` : 'unreachable'
    throw new ForewarnError(ErrorCode.DELIVERY, `${what}: ${reason}`, { cause, retriable: true, retryAfterMs: timedOut ? unansweredRetryAfterMs : 0 })
  }
}

/** Reads the body with the same kind of deadline guard as the request (a stalled body is an outage). */
export async function readText(what: string, res: Response): Promise<string> {
  try {
    return await res.text()
  } catch (cause) {
    throw new ForewarnError(ErrorCode.DELIVERY, `${what}: answer cut off`, { cause, retriable: true })
  }
}

export async function statusError(what: string, res: Response): Promise<ForewarnError> {
  const body = await res.text().catch(() => '')
  const detail = body.trim().slice(0, 300)
  return new ForewarnError(ErrorCode.DELIVERY, `${what}: HTTP ${res.status}${detail ? ` ${detail}` : ''}`, {
    retriable: retriableStatus(res.status),
  })
}
