/**
 * Service-level policy defaults from the after-sales literature: confirm within 3 minutes,
 * plan within 3 hours, close within 3 days ("3-3-3"), on-site response by tier 2 h / 4 h / 24 h.
 */
import type { Coverage, Priority, Severity } from './model.ts'
import type { FaultImpact } from './catalogue.ts'

export interface SlaTargets {
  confirmMinutes: number
  planHours: number
  closeDays: number
  responseHours: Readonly<Record<Priority, number>>
}

export const defaultSla: SlaTargets = {
  confirmMinutes: 3,
  planHours: 3,
  closeDays: 3,
  responseHours: { P1: 2, P2: 4, P3: 24 },
}

const impactPoints: Readonly<Record<FaultImpact, number>> = { high: 3, medium: 2, low: 1 }
const severityPoints: Readonly<Record<Severity, number>> = { critical: 2, warning: 1, watch: 0 }
const coveragePoints: Readonly<Record<Coverage, number>> = { warranty: 1, extended_warranty: 1, out_of_warranty: 0 }

/** Priority from fault impact, urgency and coverage (who pays decides who is promised what). */
export function priorityFor(impact: FaultImpact, severity: Severity, coverage: Coverage): Priority {
  const points = impactPoints[impact] + severityPoints[severity] + coveragePoints[coverage]
  if (points >= 5) return 'P1'
  if (points >= 3) return 'P2'
  return 'P3'
}

export interface SlaDeadlines {
  confirmBy: string
  planBy: string
  respondBy: string
  closeBy: string
}

/** Deadlines anchored at detection time (wall clock), never at back-filled event time. */
export function deadlinesFrom(detectedAtMs: number, priority: Priority, sla: SlaTargets = defaultSla): SlaDeadlines {
  const iso = (ms: number) => new Date(ms).toISOString()
  return {
    confirmBy: iso(detectedAtMs + sla.confirmMinutes * 60_000),
    // A visit promised within 2 h must be planned by then too, not at the generic 3 h mark.
    planBy: iso(detectedAtMs + Math.min(sla.planHours, sla.responseHours[priority]) * 3_600_000),
    respondBy: iso(detectedAtMs + sla.responseHours[priority] * 3_600_000),
    closeBy: iso(detectedAtMs + sla.closeDays * 86_400_000),
  }
}
