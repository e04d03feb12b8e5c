/** Opaque page cursors: base64url of the last row's sort key, so clients cannot depend on its form. */
import { ErrorCode, ForewarnError } from '../../domain/index.ts'

export const encodeCursor = (key: string | number): string => Buffer.from(String(key), 'utf8').toString('base64url')

export function decodeCursor(cursor: string | undefined): string | null {
  if (cursor === undefined || cursor === '') return null
  const s = Buffer.from(cursor, 'base64url').toString('utf8')
  if (s.length === 0 || s.length > 128 || encodeCursor(s) !== cursor) {
    throw new ForewarnError(ErrorCode.BAD_PAYLOAD, 'invalid page cursor')
  }
  return s
}

/** Numeric cursors (row sequence numbers). */
export function decodeSeqCursor(cursor: string | undefined): number {
  const s = decodeCursor(cursor)
  if (s === null) return 0
  const n = Number(s)
  if (!Number.isSafeInteger(n) || n < 0) throw new ForewarnError(ErrorCode.BAD_PAYLOAD, 'invalid page cursor')
  return n
}

/** Clamp a requested page size. */
export const pageSize = (limit: number | undefined): number => Math.max(1, Math.min(1000, Math.trunc(limit ?? 100)))
