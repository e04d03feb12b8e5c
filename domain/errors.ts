/** One error vocabulary (STYLE.md 4): stable codes, `cause` kept, `retriable` on IO errors. */
export const ErrorCode = {
  CONFIG: 'FOREWARN_ERR_CONFIG',
  BAD_PAYLOAD: 'FOREWARN_ERR_BAD_PAYLOAD',
  BAD_TOPIC: 'FOREWARN_ERR_BAD_TOPIC',
  UNKNOWN_DEVICE: 'FOREWARN_ERR_UNKNOWN_DEVICE',
  NOT_AUTHORIZED: 'FOREWARN_ERR_NOT_AUTHORIZED',
  NOT_FOUND: 'FOREWARN_ERR_NOT_FOUND',
  CONFLICT: 'FOREWARN_ERR_CONFLICT',
  RATE_LIMITED: 'FOREWARN_ERR_RATE_LIMITED',
  STORE: 'FOREWARN_ERR_STORE',
  SINK: 'FOREWARN_ERR_SINK',
  DELIVERY: 'FOREWARN_ERR_DELIVERY',
  BROKER: 'FOREWARN_ERR_BROKER',
  INTERNAL: 'FOREWARN_ERR_INTERNAL',
} as const
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode]

export class ForewarnError extends Error {
  readonly code: ErrorCode
  readonly retriable: boolean
  /**
   * The least time to wait before a retry, when the other side may still be working on the
   * request that failed (a create that went unanswered): retrying sooner could do it twice.
   */
  readonly retryAfterMs: number
  constructor(code: ErrorCode, message: string, options: { cause?: unknown; retriable?: boolean; retryAfterMs?: number } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'ForewarnError'
    this.code = code
    this.retriable = options.retriable ?? false
    this.retryAfterMs = options.retryAfterMs ?? 0
  }
}

export function isRetriable(err: unknown): boolean {
  return err instanceof ForewarnError && err.retriable
}
