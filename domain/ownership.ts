/**
 * Which worker owns a device: rendezvous (highest-random-weight) hashing, a pure function of the
 * device id and the worker set, so adding a worker moves only the devices it wins (DESIGN.md "Growth path").
 */
/** FNV-1a with a murmur3 finaliser: a stable 32-bit hash of a string, the same in every process. */
export function fnv1a(s: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  // final avalanche (murmur3 fmix32) so similar ids spread evenly
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

export function ownerOf(deviceId: string, workers: readonly string[]): string {
  if (workers.length === 0) throw new RangeError('ownerOf needs at least one worker')
  let best = workers[0] as string
  let bestWeight = -1
  for (const w of workers) {
    const weight = fnv1a(`${w}\u0000${deviceId}`)
    if (weight > bestWeight || (weight === bestWeight && w < best)) {
      best = w
      bestWeight = weight
    }
  }
  return best
}

/**
 * The stream partition a device's readings go to: a pure function of its id, so one device's
 * readings stay in order in one partition whatever edge they arrive at (docs/scaling.md).
 */
export function partitionOf(deviceId: string, partitions: number): number {
  return fnv1a(deviceId) % partitions
}
