/** Ids, secrets and their keyed digests. */
import { createHmac, randomBytes, randomInt, timingSafeEqual } from 'node:crypto'
import type { ApplianceType, BuiltinType } from '../../domain/index.ts'

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567'

export function randomBase32(n: number): string {
  let s = ''
  for (let i = 0; i < n; i++) s += BASE32[randomInt(32)]
  return s
}

export const devicePrefix: Readonly<Record<BuiltinType, string>> = {
  refrigerator: 'ref-',
  air_conditioner: 'ac-',
  washing_machine: 'wm-',
  water_heater: 'wh-',
}

/** A data-defined type's ids start with its first letters: `circulation_pump` → `circul-`. */
const prefixOf = (type: ApplianceType): string =>
  Object.hasOwn(devicePrefix, type) ? devicePrefix[type as BuiltinType] : `${type.replaceAll('_', '').slice(0, 6)}-`

export const newDeviceId = (type: ApplianceType) => prefixOf(type) + randomBase32(12)
export const newGatewayId = () => 'gw-' + randomBase32(12)
export const newTicketId = () => 'tk-' + randomBase32(12)
export const newOutboxId = () => 'ob-' + randomBase32(16)
export const newKeyId = () => 'key-' + randomBase32(8)

/** 192 random bits: long enough that a fast keyed digest is the right way to store it (issue 4). */
export const newPassword = () => randomBytes(24).toString('base64url')
/** `fwk_` + 160 random bits; the prefix makes leaked keys easy to find in logs and repos. */
export const newApiKey = () => 'fwk_' + randomBase32(32)

export function keyedDigest(secret: Buffer, value: Buffer | string): Buffer {
  return createHmac('sha256', secret).update(value).digest()
}

/** Constant-time comparison of a digest with the stored hex form. */
export function digestEquals(digest: Buffer, storedHex: string): boolean {
  const stored = Buffer.from(storedHex, 'hex')
  return stored.length === digest.length && timingSafeEqual(stored, digest)
}
