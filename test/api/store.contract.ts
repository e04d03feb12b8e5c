/**
 * The store contract (STYLE.md 7): every store implementation runs this suite, in the asynchronous
 * shape the composition root uses (the embedded store through asyncStore()). `make` opens a fresh,
 * empty store with the given clock; `tamper` (optional) reaches its tables as an attacker would.
 */
import { beforeEach, afterEach, describe, expect, it } from 'vitest'
import type { AsyncRecordsStore } from '../../api/store/open.ts'
import type { StoreOptions } from '../../api/store/index.ts'
import { event, fridge } from './fixtures.ts'

export type MakeStore = (opts: Omit<StoreOptions, 'dataDir'>) => Promise<AsyncRecordsStore>

export interface Tamper {
  /** Runs SQL on the store's database through another connection. */
  exec(store: AsyncRecordsStore, sql: string): Promise<void>
  /** Removes the append-only guard of the history table (the triggers). */
  dropGuard(store: AsyncRecordsStore): Promise<void>
}

export function storeContract(name: string, make: MakeStore, tamper?: Tamper) {
  describe(`store contract: ${name}`, () => {
    let now = Date.parse('2025-06-01T12:00:00Z')
    let store: AsyncRecordsStore
    beforeEach(async () => {
      now = Date.parse('2025-06-01T12:00:00Z')
      store = await make({ now: () => now, publicUrl: 'http://api.test', ticketPolicy: { minSeverity: 'warning', mergeWindowHours: 24 }, deliveryAdapters: ['rt'] })
    })
    afterEach(async () => { await store.close() })

    it("gives each ticket one unguessable owner's status token that opens it until revoked", async () => {
      const { device } = await store.createDevice(fridge)
      const ticket = (await store.applyDetectorEvent(event(device.id), now)).ticket!
      const token = await store.statusToken(ticket.id)
      expect(ticket.links.status).toBe(`http://api.test/status/${token}`)
      expect(await store.statusToken(ticket.id)).toBe(token)
      expect(token).not.toContain(ticket.id)
      expect((await store.ticketByStatusToken(token))?.id).toBe(ticket.id)
      const flipped = token.slice(0, 20) + (token[20] === 'A' ? 'B' : 'A') + token.slice(21)
      expect(await store.ticketByStatusToken(flipped)).toBeNull()
      expect(await store.ticketByStatusToken('')).toBeNull()
      await store.revokeStatusLink(ticket.id)
      await store.revokeStatusLink(ticket.id)
      expect(await store.ticketByStatusToken(token)).toBeNull()
      await expect(store.revokeStatusLink('tk-nope')).rejects.toMatchObject({ code: 'FOREWARN_ERR_NOT_FOUND' })
    })

    it('provisions a device with a password that verifies once and only for that device', async () => {
      const { device, credentials } = await store.createDevice(fridge)
      expect(device.id).toMatch(/^ref-[a-z2-7]{12}$/)
      expect(credentials.username).toBe(device.id)
      expect(Buffer.from(credentials.password, 'base64url').length).toBeGreaterThanOrEqual(16)
      expect((await store.verifyDeviceCredentials(device.id, Buffer.from(credentials.password)))?.id).toBe(device.id)
      expect(await store.verifyDeviceCredentials(device.id, Buffer.from('wrong'))).toBeNull()
      expect(await store.verifyDeviceCredentials('ref-nobody', Buffer.from(credentials.password))).toBeNull()
      expect(device).toEqual({
        id: device.id, type: 'refrigerator', model: 'FR-450X', serial: 'SN-0001', region: 'eu-west', installDate: '2024-01-10',
        warranty: fridge.warranty, ownerRef: 'cust-42', gatewayId: null, createdAt: '2025-06-01T12:00:00.000Z',
        connection: 'unknown', lastSeen: null, revoked: false,
      })
      expect(await store.getDevice(device.id)).toEqual(device)
      expect(await store.getDevice('ref-nobody')).toBeNull()
      await expect(store.createDevice({ ...fridge, type: 'toaster' as 'refrigerator' })).rejects.toThrow(/unknown appliance type/)
    })

    it('rotation invalidates the old password; revocation refuses every password', async () => {
      const { device, credentials } = await store.createDevice(fridge)
      const fresh = await store.rotateCredentials(device.id)
      expect(await store.verifyDeviceCredentials(device.id, Buffer.from(credentials.password))).toBeNull()
      expect((await store.verifyDeviceCredentials(device.id, Buffer.from(fresh.password)))?.id).toBe(device.id)
      expect((await store.revokeDevice(device.id)).revoked).toBe(true)
      expect((await store.revokeDevice(device.id)).revoked).toBe(true)
      expect(await store.verifyDeviceCredentials(device.id, Buffer.from(fresh.password))).toBeNull()
      await expect(store.rotateCredentials(device.id)).rejects.toMatchObject({ code: 'FOREWARN_ERR_CONFLICT' })
      await expect(store.revokeDevice('ref-nobody')).rejects.toMatchObject({ code: 'FOREWARN_ERR_NOT_FOUND' })
      expect((await store.history(device.id, { limit: 10 })).items.map((e) => e.kind)).toEqual(
        ['device.provisioned', 'device.credentials_rotated', 'device.revoked'])
    })

    it('provisions a gateway whose password verifies only for it, with the live devices registered behind it', async () => {
      const { gateway, credentials } = await store.createGateway({ label: 'hub in flat 3', region: 'eu-west', ownerRef: 'cust-42' })
      expect(gateway).toEqual({ id: gateway.id, label: 'hub in flat 3', region: 'eu-west', ownerRef: 'cust-42', createdAt: '2025-06-01T12:00:00.000Z', revoked: false })
      expect(gateway.id).toMatch(/^gw-[a-z2-7]{12}$/)
      expect(credentials.username).toBe(gateway.id)
      expect(Buffer.from(credentials.password, 'base64url').length).toBeGreaterThanOrEqual(16)
      const pw = Buffer.from(credentials.password)
      expect(await store.verifyGatewayCredentials(gateway.id, pw)).toEqual({ gateway, deviceIds: [] })

      const behind = []
      for (let i = 0; i < 3; i++) behind.push((await store.createDevice({ ...fridge, serial: `GW-${i}`, gatewayId: gateway.id })).device)
      const alone = (await store.createDevice(fridge)).device
      expect(behind.map((d) => d.gatewayId)).toEqual([gateway.id, gateway.id, gateway.id])
      const ids = behind.map((d) => d.id).sort()
      expect(await store.verifyGatewayCredentials(gateway.id, pw)).toEqual({ gateway, deviceIds: ids })
      expect(await store.getGateway(gateway.id)).toEqual({ ...gateway, deviceIds: ids })
      expect((await store.history(behind[0]!.id, { limit: 1 })).items[0]?.data).toMatchObject({ gatewayId: gateway.id })

      // A revoked device drops out of the gateway's set; nobody else's password opens the gateway.
      await store.revokeDevice(ids[0]!)
      expect((await store.verifyGatewayCredentials(gateway.id, pw))?.deviceIds).toEqual(ids.slice(1))
      expect(await store.verifyGatewayCredentials(gateway.id, Buffer.from('wrong'))).toBeNull()
      expect(await store.verifyGatewayCredentials('gw-nobody', pw)).toBeNull()
      expect(await store.verifyGatewayCredentials(alone.id, pw)).toBeNull()
      expect(await store.verifyDeviceCredentials(gateway.id, pw)).toBeNull()
      expect(await store.getGateway('gw-nobody')).toBeNull()
    })

    it('a device names an existing, live gateway or is refused; gateway rotation and revocation', async () => {
      await expect(store.createDevice({ ...fridge, gatewayId: 'gw-nobody' })).rejects.toMatchObject({ code: 'FOREWARN_ERR_BAD_PAYLOAD', message: expect.stringContaining('no gateway gw-nobody') })
      expect((await store.counts()).devices).toBe(0)
      const { gateway, credentials } = await store.createGateway({ label: 'hub' })
      expect(gateway).toMatchObject({ label: 'hub', region: null, ownerRef: null })
      const fresh = await store.rotateGatewayCredentials(gateway.id)
      expect(fresh.username).toBe(gateway.id)
      expect(await store.verifyGatewayCredentials(gateway.id, Buffer.from(credentials.password))).toBeNull()
      expect((await store.verifyGatewayCredentials(gateway.id, Buffer.from(fresh.password)))?.gateway.id).toBe(gateway.id)

      expect(await store.revokeGateway(gateway.id)).toEqual({ ...gateway, revoked: true })
      expect((await store.revokeGateway(gateway.id)).revoked).toBe(true)
      expect(await store.verifyGatewayCredentials(gateway.id, Buffer.from(fresh.password))).toBeNull()
      await expect(store.rotateGatewayCredentials(gateway.id)).rejects.toMatchObject({ code: 'FOREWARN_ERR_CONFLICT' })
      await expect(store.createDevice({ ...fridge, gatewayId: gateway.id })).rejects.toMatchObject({ code: 'FOREWARN_ERR_CONFLICT' })
      await expect(store.revokeGateway('gw-nobody')).rejects.toMatchObject({ code: 'FOREWARN_ERR_NOT_FOUND' })
      await expect(store.rotateGatewayCredentials('gw-nobody')).rejects.toMatchObject({ code: 'FOREWARN_ERR_NOT_FOUND' })
      expect((await store.counts()).devices).toBe(0)
    })

    it('pages gateways with a cursor, in id order', async () => {
      const ids = []
      for (let i = 0; i < 5; i++) ids.push((await store.createGateway({ label: `hub ${i}` })).gateway.id)
      const seen: string[] = []
      let after: string | undefined
      for (let pages = 0; pages < 10; pages++) {
        const page = await store.listGateways({ limit: 2, after })
        seen.push(...page.items.map((g) => g.id))
        if (page.next === null) break
        after = page.next
      }
      expect(seen).toEqual([...ids].sort())
    })

    it('pages devices with a cursor, no duplicates, no gaps; filters by type and connection', async () => {
      const ids = new Set<string>()
      for (let i = 0; i < 7; i++) ids.add((await store.createDevice({ ...fridge, serial: `SN-${i}` })).device.id)
      const seen: string[] = []
      let after: string | undefined
      for (let pages = 0; pages < 10; pages++) {
        const page = await store.listDevices({ limit: 3, after })
        seen.push(...page.items.map((d) => d.id))
        if (page.next === null) break
        after = page.next
      }
      expect(seen.length).toBe(7)
      expect(new Set(seen)).toEqual(ids)
      expect(seen).toEqual([...seen].sort())
      await expect(store.listDevices({ limit: 3, after: 'not a cursor!' })).rejects.toThrow(/cursor/)
      const one = [...ids][0]!
      expect(await store.setConnection(one, 'online', now)).toBe(true)
      expect(await store.setConnection('ref-nobody', 'online', now)).toBe(false)
      expect((await store.listDevices({ limit: 10, status: 'online' })).items.map((d) => d.id)).toEqual([one])
      expect((await store.listOnlineDevices()).map((d) => d.id)).toEqual([one])
      expect((await store.listDevices({ limit: 10, type: 'washing_machine' })).items).toEqual([])
    })

    it('last seen moves forward only, many devices in one call, without changing the connection', async () => {
      const a = (await store.createDevice({ ...fridge, serial: 'SN-A' })).device.id
      const b = (await store.createDevice({ ...fridge, serial: 'SN-B' })).device.id
      expect(await store.touchDevices([[a, now], [b, now - 5000], ['ref-nobody', now]])).toBe(2)
      expect(await store.touchDevices([[a, now - 60_000]])).toBe(1)
      expect((await store.getDevice(a))?.lastSeen).toBe(now)
      expect((await store.getDevice(b))?.lastSeen).toBe(now - 5000)
      expect((await store.getDevice(a))?.connection).toBe('unknown')
      expect(await store.touchDevices([])).toBe(0)
    })

    it('a replayed event changes nothing: one warning, one ticket, one outbox row per target', async () => {
      const { device } = await store.createDevice(fridge)
      const ev = event(device.id)
      const first = await store.applyDetectorEvent(ev, now)
      const again = await store.applyDetectorEvent(ev, now + 5000)
      expect(first.created).toBe(true)
      expect(first.ticketCreated).toBe(true)
      expect(again.created).toBe(false)
      expect(again.applied).toBe(false)
      expect(again.ticket?.id).toBe(first.ticket?.id)
      expect(first.warning.id).toBe(ev.episodeId)
      expect((await store.listWarnings({ limit: 100 })).items.length).toBe(1)
      expect((await store.listTickets({ limit: 100 })).items.length).toBe(1)
      expect((await store.listOutbox({ limit: 100 })).items.map((o) => [o.adapter, o.event])).toEqual([['feed', 'ticket.created'], ['rt', 'ticket.created']])
      expect(await store.counts()).toEqual({ devices: 1, online: 0, activeWarnings: 1, tickets: 1, openTickets: 1, pendingDeliveries: 1, deadDeliveries: 0 })
      await expect(store.applyDetectorEvent(event('ref-nobody'), now)).rejects.toMatchObject({ code: 'FOREWARN_ERR_UNKNOWN_DEVICE' })
    })

    it('the same event applied concurrently is applied once', async () => {
      const { device } = await store.createDevice(fridge)
      const ev = event(device.id)
      const results = await Promise.all(Array.from({ length: 8 }, () => store.applyDetectorEvent(ev, now)))
      expect(results.filter((r) => r.applied).length).toBe(1)
      expect(results.filter((r) => r.ticketCreated).length).toBe(1)
      expect(new Set(results.map((r) => r.ticket?.id)).size).toBe(1)
      expect((await store.listTickets({ limit: 100 })).items.length).toBe(1)
      expect((await store.listOutbox({ limit: 100 })).items.length).toBe(2)
      expect(await store.verifyHistory(device.id)).toEqual({ ok: true, entries: 3 })
    })

    it('ticket content: coverage, fault, parts, priority and SLA anchored at detection', async () => {
      const { device } = await store.createDevice(fridge)
      const detectedAt = Date.parse('2026-03-01T08:00:00Z')
      const { ticket } = await store.applyDetectorEvent(event(device.id), detectedAt)
      expect(ticket).not.toBeNull()
      const t = ticket!
      expect(t.warranty).toEqual({ coverage: 'extended_warranty', payer: 'extended_warranty_provider', standardEnd: '2026-01-10', extendedEnd: '2030-01-10', remedy: 'repair' })
      expect(t.fault.code).toBe('REF-CMPW')
      expect(t.fault.name).toBe('Compressor wear')
      expect(t.fault.componentName).toBe('Compressor')
      expect(t.parts.map((p) => p.partNumber)).toEqual(['RF-CP-4410', 'RF-CP-4420'])
      // impact high (3) + warning (1) + covered (1) = 5 → P1
      expect(t.priority).toBe('P1')
      // A predicted fault (216 h of life at the low end): the visit is due a day before that failure,
      // inside P1 working hours (every day 08:00–20:00 UTC); confirm in 4 and plan in 8 working hours.
      expect(t.sla).toMatchObject({
        anchoredAt: '2026-03-01T08:00:00.000Z', confirmBy: '2026-03-01T12:00:00.000Z', planBy: '2026-03-01T16:00:00.000Z',
        respondBy: '2026-03-09T08:00:00.000Z', closeBy: '2026-03-10T08:00:00.000Z', policy: 'predicted',
        failureExpectedAt: '2026-03-10T08:00:00.000Z', breakdownAt: null,
        // P1 breakdown clock if the failure comes first: the visit within 2 h, so the plan by then too.
        onFailure: {
          anchoredAt: '2026-03-10T08:00:00.000Z', confirmBy: '2026-03-10T08:03:00.000Z', planBy: '2026-03-10T10:00:00.000Z',
          respondBy: '2026-03-10T10:00:00.000Z', closeBy: '2026-03-13T08:00:00.000Z',
        },
      })
      expect(t.sla.reason).toMatch(/^Predicted fault: visit 1 day before the earliest expected failure, within P1 working hours \(every day 08:00–20:00 UTC\)/)
      expect(t.links.healthRecord).toBe(`http://api.test/devices/${device.id}`)
      expect(t.appliance).toEqual({ type: 'refrigerator', model: 'FR-450X', serial: 'SN-0001', region: 'eu-west', installDate: '2024-01-10', ownerRef: 'cust-42' })
      expect(t.rul).toEqual({ medianHours: 260, lowHours: 216, highHours: 336 })
      expect(await store.getTicket(t.id)).toEqual(t)
      expect(await store.getTicket('tk-nothing')).toBeNull()
      store.setPublicUrl('http://elsewhere.test')
      const { device: other } = await store.createDevice(fridge)
      expect((await store.applyDetectorEvent(event(other.id), detectedAt)).ticket?.links.healthRecord).toBe(`http://elsewhere.test/devices/${other.id}`)
    })

    it('below the minimum severity no ticket; escalation above it opens one; clear ends the episode', async () => {
      const { device } = await store.createDevice(fridge)
      const watch = await store.applyDetectorEvent(event(device.id, { severity: 'watch' }), now)
      expect(watch.ticket).toBeNull()
      expect((await store.listTickets({ limit: 10 })).items).toEqual([])
      const esc = await store.applyDetectorEvent(event(device.id, { kind: 'warning.escalated', severity: 'critical' }), now + 1000)
      expect(esc.created).toBe(false)
      expect(esc.warning.severity).toBe('critical')
      expect(esc.ticketCreated).toBe(true)
      expect(esc.ticket?.fault.severity).toBe('critical')
      const cleared = await store.applyDetectorEvent(event(device.id, { kind: 'warning.cleared', severity: 'critical' }), now + 2000)
      expect(cleared.warning.state).toBe('cleared')
      expect(cleared.warning.clearedAt).toBe(new Date(now).toISOString())
      expect((await store.listWarnings({ limit: 10, state: 'active' })).items).toEqual([])
      expect((await store.getWarning(esc.warning.id))?.state).toBe('cleared')
      expect(await store.getWarning('nothing')).toBeNull()
      expect((await store.getHealthRecord(device.id))?.recentWarnings.map((w) => w.id)).toEqual([esc.warning.id])
    })

    it('an escalation of a warning with a ticket raises the ticket and tells the targets', async () => {
      const { device } = await store.createDevice(fridge)
      const first = await store.applyDetectorEvent(event(device.id), now)
      const up = await store.applyDetectorEvent(event(device.id, { kind: 'warning.escalated', severity: 'critical' }), now + 1000)
      expect(up.ticketCreated).toBe(false)
      expect(up.ticket?.id).toBe(first.ticket?.id)
      expect(up.ticket?.fault.severity).toBe('critical')
      expect((await store.listOutbox({ limit: 10, adapter: 'rt' })).items.map((o) => o.event)).toEqual(['ticket.created', 'ticket.updated'])
      expect((await store.history(device.id, { limit: 10 })).items.map((e) => e.kind)).toEqual(
        ['device.provisioned', 'warning.raised', 'ticket.opened', 'warning.escalated', 'ticket.escalated'])
    })

    it('two warnings of one appliance within the merge window join one ticket; outside it they do not', async () => {
      const { device } = await store.createDevice(fridge)
      const a = await store.applyDetectorEvent(event(device.id), now)
      const b = await store.applyDetectorEvent(event(device.id, { faultCode: 'REF-CFAN', component: 'condenser_fan', episodeId: `${device.id}:REF-CFAN:1` }), now + 3_600_000)
      expect(b.ticketCreated).toBe(false)
      expect(b.ticket?.id).toBe(a.ticket?.id)
      expect(b.ticket?.warningIds).toEqual([a.warning.id, b.warning.id])
      expect(b.ticket?.parts.map((p) => p.partNumber)).toEqual(['RF-CP-4410', 'RF-CP-4420', 'RF-CF-2210'])
      expect((await store.listTickets({ limit: 10 })).items.length).toBe(1)
      const c = await store.applyDetectorEvent(event(device.id, { faultCode: 'REF-DSEAL', component: 'door_seal', episodeId: `${device.id}:REF-DSEAL:1` }), now + 30 * 3_600_000)
      expect(c.ticketCreated).toBe(true)
      expect((await store.listTickets({ limit: 10 })).items.length).toBe(2)
      expect((await store.listTickets({ limit: 10, deviceId: device.id, state: 'open' })).items.map((t) => t.id)).toEqual([a.ticket!.id, c.ticket!.id])
    })

    it("recent-telemetry window: merges a bucket's means by count, keeps the newest buckets per device, prunes the rest", async () => {
      const a = (await store.createDevice(fridge)).device.id
      const b = (await store.createDevice({ ...fridge, serial: 'SN-0002' })).device.id
      const H = 3_600_000
      const shape = { bucketMs: H, buckets: 3 }
      const t0 = 500_000 * H
      // Two flushes into one bucket are one mean, weighted by how many readings each held.
      expect(await store.addToWindow([
        { deviceId: a, startMs: t0, means: { cabinet_temp_c: [4, 1], door_open: [0, 1] } },
        { deviceId: 'ref-unknown', startMs: t0, means: { cabinet_temp_c: [1, 1] } },
        { deviceId: b, startMs: t0, means: { cabinet_temp_c: [9, 2] } },
      ], shape)).toBe(2)
      expect(await store.addToWindow([{ deviceId: a, startMs: t0, means: { cabinet_temp_c: [7, 2] } }, { deviceId: a, startMs: t0, means: { cabinet_temp_c: [10, 1] } }], shape)).toBe(1)
      expect(await store.recentWindow(a, shape)).toEqual([{ startMs: t0, means: { cabinet_temp_c: [7, 4], door_open: [0, 1] } }])
      expect(await store.addToWindow([], shape)).toBe(0)
      // Six more hours in one flush: a keeps its newest three buckets (b is untouched), stored at six digits.
      const later = [1, 2, 3, 4, 5, 6].map((h) => ({ deviceId: a, startMs: t0 + h * H, means: { cabinet_temp_c: [h + 1 / 3, 1] as const } }))
      expect(await store.addToWindow(later, shape)).toBe(6)
      const kept = await store.recentWindow(a, shape)
      expect(kept.map((x) => x.startMs)).toEqual([t0 + 4 * H, t0 + 5 * H, t0 + 6 * H])
      expect(kept[0]!.means).toEqual({ cabinet_temp_c: [4.33333, 1] })
      expect(await store.recentWindow(b, shape)).toEqual([{ startMs: t0, means: { cabinet_temp_c: [9, 2] } }])
      expect(await store.recentWindow('ref-unknown', shape)).toEqual([])
      // A late bucket older than the window is stored by the flush that brings it and dropped by the next one.
      await store.addToWindow([{ deviceId: a, startMs: t0 + H, means: { cabinet_temp_c: [99, 1] } }], shape)
      expect((await store.recentWindow(a, shape)).map((x) => x.startMs)).toEqual([t0 + 4 * H, t0 + 5 * H, t0 + 6 * H])
      await store.addToWindow([{ deviceId: a, startMs: t0 + 7 * H, means: { cabinet_temp_c: [8, 1] } }], shape)
      expect((await store.recentWindow(a, shape)).map((x) => x.startMs)).toEqual([t0 + 5 * H, t0 + 6 * H, t0 + 7 * H])
      // Resized to 2-hour buckets: only buckets of the new width are read, a bucket of the old width at the same start starts afresh.
      const wide = { bucketMs: 2 * H, buckets: 3 }
      expect(await store.recentWindow(a, wide)).toEqual([])
      await store.addToWindow([{ deviceId: a, startMs: t0 + 6 * H, means: { cabinet_temp_c: [1, 1] } }], wide)
      expect(await store.recentWindow(a, wide)).toEqual([{ startMs: t0 + 6 * H, means: { cabinet_temp_c: [1, 1] } }])
    })

    it('recent-telemetry window: at most the window of buckets per device however long it runs', async () => {
      const a = (await store.createDevice(fridge)).device.id
      const shape = { bucketMs: 60_000, buckets: 5 }
      for (let flush = 0; flush < 20; flush++) {
        await store.addToWindow([0, 1, 2].map((k) => ({ deviceId: a, startMs: (flush * 3 + k) * 60_000, means: { cabinet_temp_c: [flush, 1] as const } })), shape)
      }
      const kept = await store.recentWindow(a, shape)
      expect(kept.map((x) => x.startMs / 60_000)).toEqual([55, 56, 57, 58, 59])
      // What is stored, not only what is read: a read of a wider window finds no more.
      expect(await store.recentWindow(a, { bucketMs: 60_000, buckets: 1000 })).toHaveLength(5)
    })

    it('recent-telemetry window: resized, the first write drops every row of the old width, for every device', async () => {
      const a = (await store.createDevice(fridge)).device.id
      const b = (await store.createDevice({ ...fridge, serial: 'resized-b' })).device.id
      const hourly = { bucketMs: 3_600_000, buckets: 24 }
      const threeHourly = { bucketMs: 3 * 3_600_000, buckets: 56 }
      const t0 = 1000 * 3 * 3_600_000
      await store.addToWindow([a, b].flatMap((id) => [0, 1, 2].map((k) => ({ deviceId: id, startMs: t0 + k * 3_600_000, means: { cabinet_temp_c: [k, 1] as const } }))), hourly)
      expect((await store.recentWindow(b, hourly)).map((x) => x.startMs)).toEqual([t0, t0 + 3_600_000, t0 + 2 * 3_600_000])
      // Only a is heard from after the resize; b's hourly rows go too (nothing reads them any more).
      await store.addToWindow([{ deviceId: a, startMs: t0 + 3 * 3_600_000, means: { cabinet_temp_c: [5, 1] } }], threeHourly)
      expect(await store.recentWindow(a, threeHourly)).toEqual([{ startMs: t0 + 3 * 3_600_000, means: { cabinet_temp_c: [5, 1] } }])
      expect([await store.recentWindow(a, hourly), await store.recentWindow(b, hourly)]).toEqual([[], []])
      // Writes of the width in use keep what is there.
      await store.addToWindow([{ deviceId: b, startMs: t0 + 3 * 3_600_000, means: { cabinet_temp_c: [7, 1] } }], threeHourly)
      expect((await store.recentWindow(a, threeHourly)).length).toBe(1)
    })

    it('remaining life is given in hours to one decimal on the warning, the ticket and its delivery', async () => {
      const { device } = await store.createDevice(fridge)
      const rul = { medianHours: 67.29213471, lowHours: 50.04999, highHours: 90.96 }
      const r = await store.applyDetectorEvent(event(device.id, { rul }), now)
      const want = { medianHours: 67.3, lowHours: 50, highHours: 91 }
      expect(r.warning.rul).toEqual(want)
      expect(r.ticket?.rul).toEqual(want)
      expect((await store.getWarning(r.warning.id))?.rul).toEqual(want)
      expect((await store.getTicket(r.ticket!.id))?.rul).toEqual(want)
      expect((await store.listOutbox({ limit: 10 })).items.map((o) => o.payload.rul)).toEqual([want, want])
      // The deadlines follow the numbers the ticket shows: the expected failure is the rounded low end after detection.
      expect([r.ticket?.sla.policy, r.ticket?.sla.failureExpectedAt]).toEqual(['predicted', new Date(now + 50 * 3_600_000).toISOString()])
    })

    it('health record: identity, detector core, warnings, offline wins', async () => {
      const { device } = await store.createDevice(fridge)
      expect(await store.getHealthRecord('ref-unknown')).toBeNull()
      const core = { overall: 71, status: 'watch' as const, components: { compressor: { score: 60, reason: 'current up' } }, usage: { runningHours: 12, cycles: 40, doorOpenings: 9 }, lastEventTime: 5, warmingUp: false }
      expect(await store.saveHealth(device.id, core)).toBe(true)
      expect(await store.saveHealth('ref-unknown', core)).toBe(false)
      expect(await store.saveHealthBatch([[device.id, core], ['ref-unknown', core]])).toBe(1)
      expect(await store.saveHealthBatch([])).toBe(0)
      await store.setConnection(device.id, 'online', now)
      await store.applyDetectorEvent(event(device.id), now)
      const rec = (await store.getHealthRecord(device.id))!
      expect(rec.health).toEqual(core)
      expect(rec.healthUpdatedAt).toBe(new Date(now).toISOString())
      expect(rec.status).toBe('warning')
      expect(rec.activeWarnings.length).toBe(1)
      expect(rec.openTickets.length).toBe(1)
      expect((await store.getTicket(rec.openTickets[0]!))?.healthScore).toBe(71)
      await store.setConnection(device.id, 'offline', now + 10)
      await store.setConnection(device.id, 'online', now + 5) // late news does not move last-seen back
      await store.setConnection(device.id, 'offline', now + 6)
      expect((await store.getHealthRecord(device.id))?.status).toBe('offline')
      expect((await store.getHealthRecord(device.id))?.device.lastSeen).toBe(now + 10)
    })

    it('health statuses of the whole fleet in one read equal each health record\'s status', async () => {
      const core = (status: 'healthy' | 'watch') => ({ overall: 90, status, components: {}, usage: { runningHours: 1, cycles: 1, doorOpenings: 0 }, lastEventTime: 5, warmingUp: false })
      const ids: string[] = []
      for (let i = 0; i < 4; i++) ids.push((await store.createDevice({ ...fridge, serial: `fleet-${i}` })).device.id)
      const [noHealth, watch, warned, offline] = ids as [string, string, string, string]
      await store.saveHealthBatch([[watch, core('watch')], [warned, core('healthy')], [offline, core('watch')]])
      for (const id of ids) await store.setConnection(id, 'online', now)
      await store.setConnection(offline, 'offline', now + 1)
      await store.applyDetectorEvent(event(warned), now)
      const all = await store.healthStatuses()
      expect([all[noHealth], all[watch], all[warned], all[offline]]).toEqual(['healthy', 'watch', 'warning', 'offline'])
      for (const id of Object.keys(all)) expect(all[id], id).toBe((await store.getHealthRecord(id))?.status)
    })

    it('ticket lifecycle: allowed transitions only, each in the history and the outbox', async () => {
      const { device } = await store.createDevice(fridge)
      const t = (await store.applyDetectorEvent(event(device.id), now)).ticket!
      expect((await store.transitionTicket(t.id, { state: 'acknowledged' })).state).toBe('acknowledged')
      await expect(store.transitionTicket(t.id, { state: 'resolved' })).rejects.toThrow(/outcome/)
      const done = await store.transitionTicket(t.id, { state: 'resolved', outcome: 'part_replaced', partNumber: 'RF-CP-4410' })
      expect(done.resolution).toEqual({ outcome: 'part_replaced', partNumber: 'RF-CP-4410', note: null })
      expect(await store.getTicket(t.id)).toEqual(done)
      await expect(store.transitionTicket(t.id, { state: 'open' })).rejects.toThrow(/cannot go/)
      await expect(store.transitionTicket('tk-nothing', { state: 'acknowledged' })).rejects.toMatchObject({ code: 'FOREWARN_ERR_NOT_FOUND' })
      expect((await store.listOutbox({ limit: 10, ticketId: t.id, adapter: 'feed' })).items.map((o) => o.event)).toEqual(['ticket.created', 'ticket.updated', 'ticket.updated'])
      expect((await store.history(device.id, { limit: 100 })).items.map((e) => e.kind)).toEqual(
        ['device.provisioned', 'warning.raised', 'ticket.opened', 'ticket.acknowledged', 'ticket.resolved'])
      expect(await store.counts()).toEqual({ devices: 1, online: 0, activeWarnings: 1, tickets: 1, openTickets: 0, pendingDeliveries: 3, deadDeliveries: 0 })
    })

    it('tells transition listeners after the commit, and a throwing listener changes nothing', async () => {
      const { device } = await store.createDevice(fridge)
      const t = (await store.applyDetectorEvent(event(device.id), now)).ticket!
      const seen: string[] = []
      const off = store.onTransition((c) => { seen.push(`${c.from}>${c.to}:${c.components.join(',')}`) })
      store.onTransition(() => { throw new Error('listener bug') })
      await store.transitionTicket(t.id, { state: 'acknowledged' })
      off()
      await store.transitionTicket(t.id, { state: 'scheduled' })
      expect(seen).toEqual(['open>acknowledged:compressor'])
      expect((await store.getTicket(t.id))?.state).toBe('scheduled')
    })

    it('repair outcomes: precision per fault code and model', async () => {
      const { device } = await store.createDevice(fridge)
      const a = (await store.applyDetectorEvent(event(device.id), now)).ticket!
      await store.transitionTicket(a.id, { state: 'resolved', outcome: 'part_replaced', partNumber: 'RF-CP-4410' })
      now += 40 * 86_400_000
      const b = (await store.applyDetectorEvent(event(device.id, { episodeId: 'ep-2' }), now)).ticket!
      await store.transitionTicket(b.id, { state: 'resolved', outcome: 'no_fault_found' })
      expect(await store.precision()).toEqual([{ faultCode: 'REF-CMPW', model: 'FR-450X', confirmed: 1, noFaultFound: 1, declined: 0, precision: 0.5 }])
      expect(await store.precision({ model: 'other' })).toEqual([])
    })

    it('learning: no fault found quiets that fault (not a critical one), a returning repaired fault is a repeat repair', async () => {
      const DAY = 86_400_000
      const { device } = await store.createDevice(fridge)
      let n = 0
      const raise = (faultCode = 'REF-CMPW', component = 'compressor', severity: 'warning' | 'critical' = 'warning') =>
        store.applyDetectorEvent(event(device.id, { faultCode, component, severity, episodeId: `ep-${++n}` }), now)
      const first = (await raise()).ticket!
      await store.transitionTicket(first.id, { state: 'resolved', outcome: 'no_fault_found' })
      now += DAY
      const quiet = await raise()
      expect(quiet.ticket).toBeNull()
      expect((await store.history(device.id, { limit: 100 })).items.at(-1)).toMatchObject({
        kind: 'warning.quieted', data: { episodeId: quiet.warning.id, noFaultFoundTicketId: first.id, quietUntil: new Date(now - DAY + 14 * DAY).toISOString() },
      })
      const loud = (await raise('REF-CMPW', 'compressor', 'critical')).ticket!
      expect(loud.repeatRepair).toBe(false)
      await store.transitionTicket(loud.id, { state: 'resolved', outcome: 'part_replaced', partNumber: 'RF-CP-4410' })
      const repairedAt = now
      now += 10 * DAY
      const again = (await raise('E7', 'compressor', 'critical')).ticket!
      expect(again.repeatOf).toEqual({ ticketId: loud.id, outcome: 'part_replaced', resolvedAt: new Date(repairedAt).toISOString(), daysSinceRepair: 10 })
      expect(again.repeatRepair).toBe(true)
      expect((await store.getTicket(again.id))?.repeatOf?.ticketId).toBe(loud.id)
      expect(await store.precision()).toEqual([
        { faultCode: 'REF-CMPW', model: 'FR-450X', confirmed: 1, noFaultFound: 1, declined: 0, precision: 0.5 },
      ])
      expect(await store.verifyHistory(device.id)).toMatchObject({ ok: true })
    })

    it('learning: warnings of a component under repair are held; its joined faults count once each', async () => {
      const { device } = await store.createDevice(fridge)
      const t = (await store.applyDetectorEvent(event(device.id), now)).ticket!
      const fan = await store.applyDetectorEvent(event(device.id, { faultCode: 'REF-CFAN', component: 'condenser_fan', episodeId: 'ep-fan' }), now)
      expect(fan.ticket?.id).toBe(t.id)
      now += 2 * 86_400_000
      const seen: string[][] = []
      store.onTransition((c) => { seen.push(c.components) })
      await store.transitionTicket(t.id, { state: 'in_progress' })
      const held = await store.applyDetectorEvent(event(device.id, { faultCode: 'E7', severity: 'critical', episodeId: 'ep-held' }), now)
      expect(held.ticket).toBeNull()
      expect((await store.history(device.id, { limit: 100 })).items.at(-1)).toMatchObject({
        kind: 'warning.held', data: { episodeId: 'ep-held', component: 'compressor', ticketId: t.id },
      })
      // An escalation of the ticket's own warning during the visit is held too: no new priority.
      const up = await store.applyDetectorEvent(event(device.id, { kind: 'warning.escalated', severity: 'critical' }), now)
      expect(up.ticket?.priority).toBe(t.priority)
      expect((await store.history(device.id, { limit: 100 })).items.at(-1)).toMatchObject({ kind: 'warning.held', data: { episodeId: up.warning.id, ticketId: t.id } })
      expect((await store.applyDetectorEvent(event(device.id, { faultCode: 'REF-LEAK', component: 'sealed_system', episodeId: 'ep-leak' }), now)).ticketCreated).toBe(true)
      await store.transitionTicket(t.id, { state: 'resolved', outcome: 'repaired' })
      expect(seen).toEqual([['compressor', 'condenser_fan'], ['compressor', 'condenser_fan']])
      expect((await store.precision()).map((r) => [r.faultCode, r.confirmed])).toEqual([['REF-CFAN', 1], ['REF-CMPW', 1]])
    })

    it('outbox as the delivery port: claims in order, leases, retries, dead letters, replay', async () => {
      const { device } = await store.createDevice(fridge)
      const t = (await store.applyDetectorEvent(event(device.id), now)).ticket!
      await store.transitionTicket(t.id, { state: 'acknowledged' })
      const port = store.outboxPort({ leaseMs: 1000 })
      const both = await port.claimDue(now, 10)
      expect(both.map((j) => [j.adapter, j.event, j.ticketId, j.attempts])).toEqual([['rt', 'ticket.created', t.id, 0], ['rt', 'ticket.updated', t.id, 0]])
      const [created, updated] = [both[0]!.id, both[1]!.id]
      expect(await port.claimDue(now, 10)).toEqual([]) // leased
      await port.markRetry(created, 1, now + 2000, 'rt down')
      await port.markRetry(updated, 0, now + 1000, 'deferred')
      // The newer change of the ticket waits while the older one waits for its retry: in order.
      expect(await port.claimDue(now + 1000, 10)).toEqual([])
      expect((await port.claimDue(now + 2000, 10)).map((j) => [j.id, j.attempts])).toEqual([[created, 1], [updated, 0]])
      await port.markDelivered(created, 'RT-7', now + 2100)
      await port.markDead(updated, 3, 'refused')
      await port.markRetry(updated, 4, now, 'too late') // a dead job stays dead
      const rows = (await store.listOutbox({ limit: 10, adapter: 'rt' })).items
      expect(rows.map((o) => [o.state, o.externalRef, o.attempts, o.lastError])).toEqual([['delivered', 'RT-7', 1, 'rt down'], ['dead', null, 3, 'refused']])
      const dead = await port.listDead(10)
      expect(dead.items.map((j) => [j.id, j.lastError])).toEqual([[updated, 'refused']])
      expect(dead.next).toBeNull()
      expect(await port.replayDead(updated)).toBe(true)
      expect(await port.replayDead(updated)).toBe(false)
      expect((await port.claimDue(now + 2100, 10)).map((j) => [j.id, j.attempts])).toEqual([[updated, 0]])
    })

    it('history is a verifiable hash chain and pages by cursor', async () => {
      const { device } = await store.createDevice(fridge)
      await store.applyDetectorEvent(event(device.id), now)
      await store.applyDetectorEvent(event(device.id, { kind: 'warning.cleared' }), now + 1)
      expect(await store.verifyHistory(device.id)).toEqual({ ok: true, entries: 4 })
      const p1 = await store.history(device.id, { limit: 3 })
      expect(p1.items.map((e) => e.seq)).toEqual([1, 2, 3])
      expect(p1.items[1]!.prevHash).toBe(p1.items[0]!.hash)
      const p2 = await store.history(device.id, { limit: 3, after: p1.next! })
      expect(p2).toMatchObject({ next: null, items: [{ seq: 4, kind: 'warning.cleared' }] })
      await expect(store.history('ref-nobody', { limit: 3 })).rejects.toMatchObject({ code: 'FOREWARN_ERR_NOT_FOUND' })
      await expect(store.verifyHistory('ref-nobody')).rejects.toMatchObject({ code: 'FOREWARN_ERR_NOT_FOUND' })
    })

    it('api keys: admin key once, scoped keys, listing, revocation, unknown keys refused', async () => {
      const first = await store.ensureAdminKey()
      expect(first.key).toMatch(/^fwk_[a-z2-7]{32}$/)
      expect((await store.ensureAdminKey()).key).toBeNull()
      expect(await store.authenticateApiKey(first.key!)).toEqual({ id: 'admin', scopes: ['*'] })
      const k = await store.createApiKey(['read'], 'grafana')
      expect(await store.authenticateApiKey(k.key)).toEqual({ id: k.id, scopes: ['read'] })
      expect(await store.authenticateApiKey('fwk_nope')).toBeNull()
      expect(await store.authenticateApiKey('')).toBeNull()
      await expect(store.createApiKey(['root' as 'read'])).rejects.toThrow(/invalid scopes/)
      expect((await store.listApiKeys()).map((i) => [i.id, i.label, i.scopes, i.revoked])).toEqual([
        ['admin', 'admin (generated)', ['*'], false], [k.id, 'grafana', ['read'], false]])
      expect((await store.revokeApiKey(k.id)).revoked).toBe(true)
      expect(await store.authenticateApiKey(k.key)).toBeNull()
      await expect(store.revokeApiKey('admin')).rejects.toMatchObject({ code: 'FOREWARN_ERR_CONFLICT' })
      await expect(store.revokeApiKey('key-nobody')).rejects.toMatchObject({ code: 'FOREWARN_ERR_NOT_FOUND' })
      await store.ensureAdminKey('from-the-environment')
      expect((await store.authenticateApiKey('from-the-environment'))?.scopes).toEqual(['*'])
      expect(await store.authenticateApiKey(first.key!)).toBeNull()
    })

    it('keeps one fleet-models document per machine type, replaced on save', async () => {
      expect(await store.getTypeModels('circulation_pump')).toBeNull()
      await store.saveTypeModels('circulation_pump', '{"v":1,"n":1}')
      await store.saveTypeModels('heat_pump', '{"v":1,"n":9}')
      await store.saveTypeModels('circulation_pump', '{"v":1,"n":2}')
      expect(await store.getTypeModels('circulation_pump')).toBe('{"v":1,"n":2}')
      expect(await store.getTypeModels('heat_pump')).toBe('{"v":1,"n":9}')
    })

    it('answers ping while open', async () => {
      expect(await store.ping()).toBe(true)
    })

    if (tamper !== undefined) {
      it("the fleet's health statuses come from the status column, not the records; a row without one reads from its record", async () => {
        const core = (status: 'watch' | 'critical') => ({ overall: 50, status, components: {}, usage: { runningHours: 1, cycles: 1, doorOpenings: 0 }, lastEventTime: 5, warmingUp: false })
        const a = (await store.createDevice({ ...fridge, serial: 'col-a' })).device.id
        const b = (await store.createDevice({ ...fridge, serial: 'col-b' })).device.id
        await store.saveHealthBatch([[a, core('watch')]])
        await store.saveHealth(b, core('critical'))
        // Records no parser could read: the fleet view does not read them.
        await tamper.exec(store, `UPDATE health SET core = 'not json' WHERE device_id IN ('${a}', '${b}')`)
        expect(await store.healthStatuses()).toEqual({ [a]: 'watch', [b]: 'critical' })
        // A row an older release wrote after the column was added (no status): read from its record.
        await store.saveHealth(a, core('critical'))
        await tamper.exec(store, `UPDATE health SET status = NULL WHERE device_id = '${a}'`)
        expect((await store.healthStatuses())[a]).toBe('critical')
      })

      it('verify names the first tampered history entry', async () => {
        const { device } = await store.createDevice(fridge)
        await store.applyDetectorEvent(event(device.id), now)
        await store.applyDetectorEvent(event(device.id, { kind: 'warning.cleared' }), now + 1)
        await expect(tamper.exec(store, `UPDATE history SET data = '{}' WHERE device_id = '${device.id}' AND seq = 2`)).rejects.toThrow(/append-only/)
        await expect(tamper.exec(store, `DELETE FROM history WHERE device_id = '${device.id}' AND seq = 4`)).rejects.toThrow(/append-only/)
        await tamper.dropGuard(store)
        await tamper.exec(store, `UPDATE history SET data = replace(data, 'REF-CMPW', 'REF-LEAK') WHERE device_id = '${device.id}' AND seq = 2`)
        expect(await store.verifyHistory(device.id)).toEqual({ ok: false, firstBrokenSeq: 2, reason: 'content does not match its hash (entry was altered)' })
        await tamper.exec(store, `DELETE FROM history WHERE device_id = '${device.id}' AND seq = 4`)
        expect(await store.verifyHistory(device.id)).toMatchObject({ ok: false, firstBrokenSeq: 2 })
      })
    }
  })
}
