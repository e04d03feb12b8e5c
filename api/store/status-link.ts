/**
 * The owner's repair-status link (issue 15 §2): one unguessable token per ticket, made from the
 * store's server secret so nothing needs storing and every process of one database agrees.
 * The token is the ticket id sealed with AES-256-GCM (key and nonce derived from the secret and
 * the ticket id, so the same ticket always gets the same token): it reveals nothing, cannot be
 * forged, and opens to its ticket id without a look-up table. Revocation is the only state,
 * kept as `status-revoked:{ticketId}` rows in the `meta` table.
 */
import { createCipheriv, createDecipheriv, createHmac } from 'node:crypto'

const NONCE = 12
const TAG = 16

const keyOf = (secret: Buffer): Buffer => createHmac('sha256', secret).update('forewarn status link v1').digest()

export function statusToken(secret: Buffer, ticketId: string): string {
  const key = keyOf(secret)
  const nonce = createHmac('sha256', key).update(ticketId).digest().subarray(0, NONCE)
  const c = createCipheriv('aes-256-gcm', key, nonce)
  const body = Buffer.concat([c.update(ticketId, 'utf8'), c.final()])
  return Buffer.concat([nonce, body, c.getAuthTag()]).toString('base64url')
}

/** The ticket id a token was made for, or null when it was not made with this secret. */
export function openStatusToken(secret: Buffer, token: string): string | null {
  if (token.length > 256 || !/^[A-Za-z0-9_-]+$/.test(token)) return null
  const raw = Buffer.from(token, 'base64url')
  if (raw.length <= NONCE + TAG) return null
  try {
    const d = createDecipheriv('aes-256-gcm', keyOf(secret), raw.subarray(0, NONCE))
    d.setAuthTag(raw.subarray(raw.length - TAG))
    return Buffer.concat([d.update(raw.subarray(NONCE, raw.length - TAG)), d.final()]).toString('utf8')
  } catch {
    return null
  }
}

export const revokedKey = (ticketId: string) => `status-revoked:${ticketId}`
