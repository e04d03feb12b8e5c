/**
 * What a Request Tracker ticket says: a subject a dispatcher can triage from the queue view, and a
 * plain-text body a technician can act on at the door (who pays, what broke, which part to bring).
 */
import { evidenceWords, remainingLifeWords } from '../../domain/words.ts'
import type { TicketForDelivery } from './types.ts'

/** The marker the adapter searches RT for before creating: RT has no idempotency key of its own. */
export const subjectMarker = (ticketId: string): string => `[Forewarn ${ticketId}]`

/** `[Forewarn tk-…] REF-CFAN Condenser fan failure — serial SIM-00005` */
export function rtSubject(t: TicketForDelivery): string {
  return `${subjectMarker(t.id)} ${t.fault.code} ${t.fault.name} — serial ${t.appliance.serial}`
}

/** The Forewarn ticket id in an RT subject, or null when the ticket is not one of ours. */
export function ticketIdFromSubject(subject: string): string | null {
  const m = /^\[Forewarn ([^\]\s]+)\]/.exec(subject)
  return m === null ? null : (m[1] as string)
}

const coverageWords: Readonly<Record<TicketForDelivery['warranty']['coverage'], string>> = {
  warranty: 'in standard warranty',
  extended_warranty: 'extended warranty for this component',
  out_of_warranty: 'out of warranty',
}
const payerWords: Readonly<Record<TicketForDelivery['warranty']['payer'], string>> = {
  manufacturer: 'manufacturer (warranty repair)',
  extended_warranty_provider: 'extended-warranty provider',
  customer: 'customer (chargeable repair — quote before work)',
}
const remedyWords: Readonly<Record<TicketForDelivery['warranty']['remedy'], string>> = {
  return: 'customer may still return the appliance (within 7 days of installation)',
  exchange: 'customer may still ask for an exchange (within 15 days of installation)',
  repair: 'repair',
}

const num = (x: number): string => (Number.isInteger(x) ? String(x) : String(Number(x.toPrecision(3))))
const row = (label: string, value: string): string => `  ${(label + ':').padEnd(17)}${value}`

/** Which clock applies, why, and its deadlines in the order they fall due. */
function serviceLevel(t: TicketForDelivery): string[] {
  const s = t.sla
  if (s.policy !== 'predicted') {
    const started = s.breakdownAt ?? s.anchoredAt
    return [
      `SERVICE LEVEL: BREAKDOWN (clock started ${started === s.anchoredAt ? 'at detection' : 'at the breakdown'}, ${started})`,
      ...(s.reason === undefined ? [] : [`  ${s.reason}`]),
      row('Confirm by', s.confirmBy),
      row('Plan by', s.planBy),
      row('On site by', s.respondBy),
      row('Close by', s.closeBy),
    ]
  }
  return [
    `SERVICE LEVEL: PREDICTED FAULT (detected ${s.anchoredAt}; not a breakdown yet)`,
    ...(s.reason === undefined ? [] : [`  ${s.reason}`]),
    row('Confirm by', s.confirmBy),
    row('Plan visit by', s.planBy),
    row('Visit by', s.respondBy),
    row('Repaired by', s.closeBy),
    ...(s.failureExpectedAt == null ? [] : [row('Failure from', `${s.failureExpectedAt} (earliest expected)`)]),
    ...(s.onFailure == null ? [] : [row('If not visited', `breakdown clock from ${s.onFailure.anchoredAt}: on site by ${s.onFailure.respondBy}`)]),
  ]
}

export function rtBody(t: TicketForDelivery): string {
  const a = t.appliance
  const w = t.warranty
  const f = t.fault
  const lines = [
    `Forewarn proactive repair ticket ${t.id} — priority ${t.priority}`,
    t.sla.policy === 'predicted' || f.source === 'detector'
      ? `The appliance warned of this fault before breaking down. Fault episode ${t.episodeId}.`
      : `The appliance reported this fault itself. Fault episode ${t.episodeId}.`,
    '',
    'APPLIANCE',
    row('Type', a.type.replaceAll('_', ' ')),
    row('Model', a.model),
    row('Serial', a.serial),
    row('Region', a.region),
    row('Installed', a.installDate),
    row('Owner ref', a.ownerRef ?? '(none on record)'),
    '',
    'COVERAGE',
    row('Coverage', coverageWords[w.coverage]),
    row('Warranty end', w.standardEnd + (w.extendedEnd === null ? '' : `; extended until ${w.extendedEnd}`)),
    row('Who pays', payerWords[w.payer]),
    row('Remedy', remedyWords[w.remedy]),
    '',
    'FAULT',
    row('Code', `${f.code} — ${f.name}`),
    row('Component', `${f.componentName} (${f.component})`),
    row('Severity', `${f.severity}, impact ${f.impact}, raised by ${f.source === 'firmware' ? 'the appliance firmware' : 'Forewarn detector'}`),
    row('What happens', f.description),
    '',
    'EVIDENCE',
    // Plain words first; the raw feature and its deviation (in baseline spreads) for whoever reads the data.
    ...(t.evidence.length === 0 ? ['  (none recorded)'] : t.evidence.map((e) => {
      const trend = e.slopePerDay === null ? '' : `, trend ${num(e.slopePerDay)}/day`
      return `  - ${evidenceWords(a.type, e)}: ${e.detail}\n    [${e.feature} = ${num(e.value)}, baseline ${num(e.baseline)}, ${num(e.deviation)} spreads from baseline${trend}]`
    })),
    '',
    'HEALTH',
    row('Health score', t.healthScore === null ? 'not yet known' : `${num(t.healthScore)}/100`),
    row('Remaining life', t.rul === null ? 'no estimate' : `failure expected ${remainingLifeWords(t.rul)} (about ${num(t.rul.medianHours)} h, between ${num(t.rul.lowHours)} h and ${num(t.rul.highHours)} h)`),
    '',
    'LIKELY PARTS (bring on the first visit)',
    ...(t.parts.length === 0 ? ['  (none listed — diagnose on site)'] : t.parts.map((p) => `  - ${p.partNumber}  ${p.name}`)),
    '',
    ...serviceLevel(t),
    '',
    'LINKS',
    row('Health record', t.links.healthRecord),
    row('History', t.links.history),
    ...(t.links.grafana === null ? [] : [row('Dashboard', t.links.grafana)]),
    ...(t.links.status === undefined ? [] : [row("Owner's status page", t.links.status)]),
    '',
    `Keep ${subjectMarker(t.id)} in the subject: Forewarn finds this ticket by it and reads its status back`,
    '(open = acknowledged, stalled = scheduled, resolved = resolved, rejected = cancelled).',
  ]
  return lines.join('\n')
}
