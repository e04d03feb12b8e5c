/**
 * The store contract (STYLE.md 7): every Store implementation runs this suite. `make` opens a
 * fresh, empty store with the given clock; `raw` (optional) runs SQL against its tables.
 */
import { beforeEach, afterEach, describe, expect, it } from 'vitest'
import type { Store, StoreOptions } from '../../api/store/index.ts'
import { event, fridge } from './fixtures.ts'

export function storeContract(name: string, make: (opts: Omit<StoreOptions, 'dataDir'>) => Store, raw?: (store: Store, sql: string) => void) {
  describe(`store contract: ${name}`, () => {
    let now = Date.parse('2025-06-01T12:00:00Z')
    let store: Store
    beforeEach(() => {
      now = Date.parse('2025-06-01T12:00:00Z')
      store = make({ now: () => now, publicUrl: 'http://api.test', ticketPolicy: { minSeverity: 'warning', mergeWindowHours: 24 } })
    })
    afterEach(() => store.close())

    it('provisions a device with a password that verifies once and only for that device', () => {
      const { device, credentials } = store.createDevice(fridge)
      expect(device.id).toMatch(/^ref-[a-z2-7]{12}$/)
      expect(credentials.username).toBe(device.id)
      expect(Buffer.from(credentials.password, 'base64url').length).toBeGreaterThanOrEqual(16)
      expect(store.verifyDeviceCredentials(device.id, Buffer.from(credentials.password))?.id).toBe(device.id)
      expect(store.verifyDeviceCredentials(device.id, Buffer.from('wrong'))).toBeNull()
      expect(store.verifyDeviceCredentials('ref-nobody', Buffer.from(credentials.password))).toBeNull()
      expect(device).toEqual({
        id: device.id, type: 'refrigerator', model: 'FR-450X', serial: 'SN-0001', region: 'eu-west', installDate: '2024-01-10',
        warranty: fridge.warranty, ownerRef: 'cust-42', gatewayId: null, createdAt: '2025-06-01T12:00:00.000Z',
        connection: 'unknown', lastSeen: null, revoked: false,
      })
    })

    it('rotation invalidates the old password; revocation refuses every password', () => {
      const { device, credentials } = store.createDevice(fridge)
      const fresh = store.rotateCredentials(device.id)
      expect(store.verifyDeviceCredentials(device.id, Buffer.from(credentials.password))).toBeNull()
      expect(store.verifyDeviceCredentials(device.id, Buffer.from(fresh.password))?.id).toBe(device.id)
      expect(store.revokeDevice(device.id).revoked).toBe(true)
      expect(store.verifyDeviceCredentials(device.id, Buffer.from(fresh.password))).toBeNull()
    })

    it('pages devices with a cursor, no duplicates, no gaps', () => {
      const ids = new Set<string>()
      for (let i = 0; i < 7; i++) ids.add(store.createDevice({ ...fridge, serial: `SN-${i}` }).device.id)
      const seen: string[] = []
      let after: string | undefined
      for (let pages = 0; pages < 10; pages++) {
        const page = store.listDevices({ limit: 3, after })
        seen.push(...page.items.map((d) => d.id))
        if (page.next === null) break
        after = page.next
      }
      expect(seen.length).toBe(7)
      expect(new Set(seen)).toEqual(ids)
      expect(() => store.listDevices({ limit: 3, after: 'not a cursor!' })).toThrow(/cursor/)
    })

    it('a replayed event changes nothing: one warning, one ticket, one outbox row', () => {
      const { device } = store.createDevice(fridge)
      const ev = event(device.id)
      const first = store.applyDetectorEvent(ev, now)
      const again = store.applyDetectorEvent(ev, now + 5000)
      expect(first.created).toBe(true)
      expect(first.ticketCreated).toBe(true)
      expect(again.created).toBe(false)
      expect(again.applied).toBe(false)
      expect(again.ticket?.id).toBe(first.ticket?.id)
      expect(first.warning.id).toBe(ev.episodeId)
      expect(store.listWarnings({ limit: 100 }).items.length).toBe(1)
      expect(store.listTickets({ limit: 100 }).items.length).toBe(1)
      expect(store.listOutbox({ limit: 100 }).items.map((o) => o.event)).toEqual(['ticket.created'])
      expect(store.counts()).toEqual({ devices: 1, online: 0, activeWarnings: 1, tickets: 1, openTickets: 1 })
    })

    it('ticket content: coverage, fault, parts, priority and SLA anchored at detection', () => {
      const { device } = store.createDevice(fridge)
      const detectedAt = Date.parse('2026-03-01T08:00:00Z')
      const { ticket } = store.applyDetectorEvent(event(device.id), detectedAt)
      expect(ticket).not.toBeNull()
      const t = ticket!
      expect(t.warranty).toEqual({ coverage: 'extended_warranty', payer: 'extended_warranty_provider', standardEnd: '2026-01-10', extendedEnd: '2030-01-10', remedy: 'repair' })
      expect(t.fault.code).toBe('REF-CMPW')
      expect(t.fault.name).toBe('Compressor wear')
      expect(t.fault.componentName).toBe('Compressor')
      expect(t.parts.map((p) => p.partNumber)).toEqual(['RF-CP-4410', 'RF-CP-4420'])
      // impact high (3) + warning (1) + covered (1) = 5 → P1
      expect(t.priority).toBe('P1')
      expect(t.sla).toEqual({
        anchoredAt: '2026-03-01T08:00:00.000Z', confirmBy: '2026-03-01T08:03:00.000Z', planBy: '2026-03-01T11:00:00.000Z',
        respondBy: '2026-03-01T10:00:00.000Z', closeBy: '2026-03-04T08:00:00.000Z',
      })
      expect(t.links.healthRecord).toBe(`http://api.test/devices/${device.id}`)
      expect(t.appliance).toEqual({ type: 'refrigerator', model: 'FR-450X', serial: 'SN-0001', region: 'eu-west', installDate: '2024-01-10', ownerRef: 'cust-42' })
      expect(t.rul).toEqual({ medianHours: 260, lowHours: 216, highHours: 336 })
      expect(store.getTicket(t.id)).toEqual(t)
    })

    it('below the minimum severity no ticket; escalation above it opens one; clear ends the episode', () => {
      const { device } = store.createDevice(fridge)
      const watch = store.applyDetectorEvent(event(device.id, { severity: 'watch' }), now)
      expect(watch.ticket).toBeNull()
      expect(store.listTickets({ limit: 10 }).items).toEqual([])
      const esc = store.applyDetectorEvent(event(device.id, { kind: 'warning.escalated', severity: 'critical' }), now + 1000)
      expect(esc.created).toBe(false)
      expect(esc.warning.severity).toBe('critical')
      expect(esc.ticketCreated).toBe(true)
      expect(esc.ticket?.fault.severity).toBe('critical')
      const cleared = store.applyDetectorEvent(event(device.id, { kind: 'warning.cleared', severity: 'critical' }), now + 2000)
      expect(cleared.warning.state).toBe('cleared')
      expect(cleared.warning.clearedAt).toBe(new Date(now).toISOString())
      expect(store.listWarnings({ limit: 10, state: 'active' }).items).toEqual([])
      expect(store.getHealthRecord(device.id)?.recentWarnings.map((w) => w.id)).toEqual([esc.warning.id])
    })

    it('two warnings of one appliance within the merge window join one ticket; outside it they do not', () => {
      const { device } = store.createDevice(fridge)
      const a = store.applyDetectorEvent(event(device.id), now)
      const b = store.applyDetectorEvent(event(device.id, { faultCode: 'REF-CFAN', component: 'condenser_fan', episodeId: `${device.id}:REF-CFAN:1` }), now + 3_600_000)
      expect(b.ticketCreated).toBe(false)
      expect(b.ticket?.id).toBe(a.ticket?.id)
      expect(b.ticket?.warningIds).toEqual([a.warning.id, b.warning.id])
      expect(b.ticket?.parts.map((p) => p.partNumber)).toEqual(['RF-CP-4410', 'RF-CP-4420', 'RF-CF-2210'])
      expect(store.listTickets({ limit: 10 }).items.length).toBe(1)
      const c = store.applyDetectorEvent(event(device.id, { faultCode: 'REF-DSEAL', component: 'door_seal', episodeId: `${device.id}:REF-DSEAL:1` }), now + 30 * 3_600_000)
      expect(c.ticketCreated).toBe(true)
      expect(store.listTickets({ limit: 10 }).items.length).toBe(2)
    })

    it('health record: identity, detector core, warnings, offline wins', () => {
      const { device } = store.createDevice(fridge)
      expect(store.getHealthRecord('ref-unknown')).toBeNull()
      const core = { overall: 71, status: 'watch' as const, components: { compressor: { score: 60, reason: 'current up' } }, usage: { runningHours: 12, cycles: 40, doorOpenings: 9 }, lastEventTime: 5, warmingUp: false }
      expect(store.saveHealth(device.id, core)).toBe(true)
      expect(store.saveHealth('ref-unknown', core)).toBe(false)
      expect(store.saveHealthBatch([[device.id, core], ['ref-unknown', core]])).toBe(1)
      store.setConnection(device.id, 'online', now)
      store.applyDetectorEvent(event(device.id), now)
      const rec = store.getHealthRecord(device.id)!
      expect(rec.health).toEqual(core)
      expect(rec.status).toBe('warning')
      expect(rec.activeWarnings.length).toBe(1)
      expect(rec.openTickets.length).toBe(1)
      expect(store.getTicket(rec.openTickets[0]!)?.healthScore).toBe(71)
      store.setConnection(device.id, 'offline', now + 10)
      expect(store.getHealthRecord(device.id)?.status).toBe('offline')
      expect(store.getHealthRecord(device.id)?.device.lastSeen).toBe(now + 10)
    })

    it('ticket lifecycle: allowed transitions only, each in the history and the outbox', () => {
      const { device } = store.createDevice(fridge)
      const t = store.applyDetectorEvent(event(device.id), now).ticket!
      expect(store.transitionTicket(t.id, { state: 'acknowledged' }).state).toBe('acknowledged')
      expect(() => store.transitionTicket(t.id, { state: 'resolved' })).toThrow(/outcome/)
      const done = store.transitionTicket(t.id, { state: 'resolved', outcome: 'part_replaced', partNumber: 'RF-CP-4410' })
      expect(done.resolution).toEqual({ outcome: 'part_replaced', partNumber: 'RF-CP-4410', note: null })
      expect(() => store.transitionTicket(t.id, { state: 'open' })).toThrow(/cannot go/)
      expect(store.listOutbox({ limit: 10, ticketId: t.id }).items.map((o) => o.event)).toEqual(['ticket.created', 'ticket.updated', 'ticket.updated'])
      expect(store.history(device.id, { limit: 100 }).items.map((e) => e.kind)).toEqual(
        ['device.provisioned', 'warning.raised', 'ticket.opened', 'ticket.acknowledged', 'ticket.resolved'])
    })

    it('history is a verifiable hash chain and pages by cursor', () => {
      const { device } = store.createDevice(fridge)
      store.applyDetectorEvent(event(device.id), now)
      store.applyDetectorEvent(event(device.id, { kind: 'warning.cleared' }), now + 1)
      expect(store.verifyHistory(device.id)).toEqual({ ok: true, entries: 4 })
      const p1 = store.history(device.id, { limit: 3 })
      expect(p1.items.map((e) => e.seq)).toEqual([1, 2, 3])
      expect(p1.items[1]!.prevHash).toBe(p1.items[0]!.hash)
      const p2 = store.history(device.id, { limit: 3, after: p1.next! })
      expect(p2).toMatchObject({ next: null, items: [{ seq: 4, kind: 'warning.cleared' }] })
    })

    it('api keys: admin key once, scoped keys, unknown keys refused', () => {
      const first = store.ensureAdminKey()
      expect(first.key).toMatch(/^fwk_[a-z2-7]{32}$/)
      expect(store.ensureAdminKey().key).toBeNull()
      expect(store.authenticateApiKey(first.key!)).toEqual({ id: 'admin', scopes: ['*'] })
      const k = store.createApiKey(['read'])
      expect(store.authenticateApiKey(k.key)).toEqual({ id: k.id, scopes: ['read'] })
      expect(store.authenticateApiKey('fwk_nope')).toBeNull()
      store.ensureAdminKey('from-the-environment')
      expect(store.authenticateApiKey('from-the-environment')?.scopes).toEqual(['*'])
      expect(store.authenticateApiKey(first.key!)).toBeNull()
    })

    if (raw !== undefined) {
      it('verify names the first tampered history entry', () => {
        const { device } = store.createDevice(fridge)
        store.applyDetectorEvent(event(device.id), now)
        store.applyDetectorEvent(event(device.id, { kind: 'warning.cleared' }), now + 1)
        expect(() => raw(store, `UPDATE history SET data = '{}' WHERE device_id = '${device.id}' AND seq = 2`)).toThrow(/append-only/)
        raw(store, 'DROP TRIGGER history_no_update')
        raw(store, `UPDATE history SET data = replace(data, 'REF-CMPW', 'REF-LEAK') WHERE device_id = '${device.id}' AND seq = 2`)
        expect(store.verifyHistory(device.id)).toEqual({ ok: false, firstBrokenSeq: 2, reason: 'content does not match its hash (entry was altered)' })
      })
    }
  })
}
