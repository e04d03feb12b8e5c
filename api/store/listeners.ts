/** Who hears about committed ticket changes; shared by every store implementation. */
import type { TicketChange, TicketChangeListener } from './types.ts'

export class TicketChangeListeners {
  private readonly listeners = new Set<TicketChangeListener>()

  add(listener: TicketChangeListener): () => void {
    this.listeners.add(listener)
    return () => { this.listeners.delete(listener) }
  }

  /** After the commit: a listener's failure must not turn a committed change into an error answer. */
  emit(change: TicketChange): void {
    for (const l of this.listeners) {
      try {
        l(change)
      } catch {
        // documented on TicketChangeListener: listeners own their errors
      }
    }
  }
}
