/**
 * What a ticket state change means for the detector (issue 6, "lifecycle and learning"): while a
 * technician works on a component its warnings are held; a repair (part replaced or repaired)
 * resets the component's learnt baseline, because the old one describes the worn part; the end of
 * the visit, whatever its outcome, releases the hold. The store announces committed changes
 * (`store.onTransition`); the composition root turns them into detector calls with these actions.
 */
import type { Store, TicketChange } from '../store/index.ts'

export interface RepairAction {
  kind: 'hold' | 'release' | 'reset'
  deviceId: string
  component: string
  /** Wall clock of the ticket change (ms); a detector on event time applies it from its next reading. */
  atMs: number
}

const repaired: ReadonlySet<string> = new Set(['part_replaced', 'repaired'])

/** Actions in the order to apply them: a reset before the release, so no stale warning slips out in between. */
export function repairActions(c: TicketChange): RepairAction[] {
  const deviceId = c.ticket.deviceId
  const kinds: Array<RepairAction['kind']> = []
  if (c.to === 'in_progress') kinds.push('hold')
  if (c.to === 'resolved' && c.outcome !== null && repaired.has(c.outcome)) kinds.push('reset')
  if (c.to === 'resolved' || c.to === 'cancelled') kinds.push('release')
  const out: RepairAction[] = []
  for (const kind of kinds) for (const component of c.components) out.push({ kind, deviceId, component, atMs: c.atMs })
  return out
}

/** Registers `apply` for every action of every committed ticket change; returns the removal. */
export function onRepairActions(store: Pick<Store, 'onTransition'>, apply: (a: RepairAction) => void): () => void {
  return store.onTransition((change) => {
    for (const a of repairActions(change)) apply(a)
  })
}
