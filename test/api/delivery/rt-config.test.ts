import { describe, expect, it } from 'vitest'
import { ErrorCode } from '../../../domain/index.ts'
import { rtConfigFromEnv, rtStatusMap, ticketSqlString } from '../../../api/delivery/rt.ts'
import { rtBody, rtSubject, ticketIdFromSubject } from '../../../api/delivery/rt-text.ts'
import { sampleTicket } from './fixtures.ts'

describe('rtConfigFromEnv', () => {
  it('is null when RT is not configured', () => {
    expect(rtConfigFromEnv({})).toBeNull()
  })

  it('reads basic auth, token auth, queue and timeout', () => {
    expect(rtConfigFromEnv({ RT_URL: 'https://rt.example/REST/2.0/', RT_USER: 'forewarn', RT_PASSWORD: 's3cret' })).toEqual({
      url: 'https://rt.example', auth: { kind: 'basic', user: 'forewarn', password: 's3cret' }, queue: 'General', timeoutMs: 10_000,
    })
    expect(rtConfigFromEnv({ RT_URL: 'http://127.0.0.1:8080', RT_TOKEN: '1-14-abc', RT_QUEUE: 'Field Service', RT_TIMEOUT_MS: '2500' })).toEqual({
      url: 'http://127.0.0.1:8080', auth: { kind: 'token', token: '1-14-abc' }, queue: 'Field Service', timeoutMs: 2_500,
    })
  })

  it('fails with a clear CONFIG error when set up half or wrong', () => {
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{ RT_USER: 'u', RT_PASSWORD: 'p' }, /RT_URL is required/],
      [{ RT_URL: 'not a url', RT_TOKEN: 't' }, /RT_URL is not a URL/],
      [{ RT_URL: 'ftp://rt', RT_TOKEN: 't' }, /http\(s\)/],
      [{ RT_URL: 'http://rt' }, /no credentials/],
      [{ RT_URL: 'http://rt', RT_USER: 'u' }, /RT_PASSWORD is not/],
      [{ RT_URL: 'http://rt', RT_PASSWORD: 'p' }, /RT_USER is not/],
      [{ RT_URL: 'http://rt', RT_TOKEN: 't', RT_USER: 'u', RT_PASSWORD: 'p' }, /not both/],
      [{ RT_URL: 'http://rt', RT_TOKEN: 't', RT_TIMEOUT_MS: 'soon' }, /RT_TIMEOUT_MS/],
    ]
    for (const [env, message] of cases) {
      expect(() => rtConfigFromEnv(env)).toThrow(message)
      expect(() => rtConfigFromEnv(env)).toThrow(expect.objectContaining({ code: ErrorCode.CONFIG }))
    }
  })
})

describe('RT ticket text', () => {
  const t = sampleTicket('tk-abcdefghijkl')

  it('puts id, fault and serial in the subject, and finds the id again', () => {
    expect(rtSubject(t)).toBe('[Forewarn tk-abcdefghijkl] REF-CFAN Condenser fan failure — serial SIM-00005')
    expect(ticketIdFromSubject(rtSubject(t))).toBe('tk-abcdefghijkl')
    expect(ticketIdFromSubject('Re: [Forewarn tk-x] …')).toBeNull()
    expect(ticketIdFromSubject('printer on fire')).toBeNull()
  })

  it('gives the technician coverage, evidence, parts, deadlines and links', () => {
    const body = rtBody(t)
    for (const needle of [
      'priority P1', 'Serial:          SIM-00005', 'Owner ref:       CUST-1042', 'Who pays:        manufacturer (warranty repair)',
      'Code:            REF-CFAN — Condenser fan failure',
      '[condenser_fan_current_a = 0.05, baseline 0.42, -9.3 spreads from baseline, trend -0.08/day]',
      'Health score:    31/100', 'failure expected in 1 to 3 days (about 36 h, between 20 h and 60 h)', `Visit by:        ${t.sla.respondBy}`,
      'Health record:   http://forewarn.test/devices/ref-sim00005aaaa',
    ]) expect(body).toContain(needle)
    for (const p of t.parts) expect(body).toContain(`  - ${p.partNumber}  ${p.name}`)
    expect(t.parts.length).toBeGreaterThan(0)
  })

  it('says which service level applies: a predicted fault has visit-by and the breakdown clock it would fall back to', () => {
    const body = rtBody(t)
    expect(body).toContain('SERVICE LEVEL: PREDICTED FAULT (detected 2026-03-02T08:15:00.000Z; not a breakdown yet)')
    // 20 h of life at the low end is less than the 1-day margin: the visit gets the P1 breakdown response.
    expect(body).toContain('the visit gets the P1 breakdown response of 2 h')
    expect(body).toContain('Failure from:    2026-03-03T04:15:00.000Z (earliest expected)')
    expect(body).toContain('If not visited:  breakdown clock from 2026-03-03T04:15:00.000Z: on site by 2026-03-03T06:15:00.000Z')
    const order = ['Confirm by:', 'Plan visit by:', 'Visit by:', 'Repaired by:'].map((l) => body.indexOf(l))
    expect(order.every((i, k) => i > 0 && (k === 0 || i > (order[k - 1] as number)))).toBe(true)
  })

  it('a critical firmware code is a breakdown: the tier clock, on site before close', () => {
    const b = sampleTicket('tk-breakdown0001', 'SIM-00006', { source: 'firmware', rul: null })
    const body = rtBody(b)
    expect(body).toContain('The appliance reported this fault itself.')
    expect(body).toContain('SERVICE LEVEL: BREAKDOWN (clock started at detection, 2026-03-02T08:15:00.000Z)')
    expect(body).toContain('Breakdown (the appliance reported a critical fault code): P1 clock — confirm in 3 minutes, plan in 2 h, on site in 2 h, repair done in 3 days.')
    expect(body).toContain('Confirm by:      2026-03-02T08:18:00.000Z')
    expect(body).toContain('Plan by:         2026-03-02T10:15:00.000Z')
    expect(body).toContain('On site by:      2026-03-02T10:15:00.000Z')
    expect(body).toContain('Close by:        2026-03-05T08:15:00.000Z')
    expect(body.indexOf('Plan by:')).toBeLessThan(body.indexOf('On site by:'))
  })

  it('quotes TicketSQL strings and maps RT statuses', () => {
    expect(ticketSqlString("it's \\ here")).toBe("'it\\'s \\\\ here'")
    expect([rtStatusMap.open, rtStatusMap.stalled, rtStatusMap.resolved, rtStatusMap.rejected, rtStatusMap.new])
      .toEqual(['acknowledged', 'scheduled', 'resolved', 'cancelled', undefined])
  })
})
