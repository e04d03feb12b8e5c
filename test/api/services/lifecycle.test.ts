import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { onRepairActions, repairActions, type RepairAction } from '../../../api/services/lifecycle.ts'
import { openStore, type Store } from '../../../api/store/index.ts'
import { event, fridge } from '../fixtures.ts'

describe('repair actions for the detector', () => {
  let store: Store
  let now = 1_000
  beforeEach(() => { store = openStore({ dataDir: null, now: () => now }) })
  afterEach(() => store.close())

  it('holds the ticket components during the repair, resets them after a repair, releases them at the end', () => {
    const { device } = store.createDevice(fridge)
    const actions: RepairAction[] = []
    const off = onRepairActions(store, (a) => actions.push(a))
    const t = store.applyDetectorEvent(event(device.id), now).ticket!
    store.applyDetectorEvent(event(device.id, { faultCode: 'REF-CFAN', component: 'condenser_fan', episodeId: 'fan' }), now)
    store.transitionTicket(t.id, { state: 'acknowledged' })
    expect(actions).toEqual([])
    now = 2_000
    store.transitionTicket(t.id, { state: 'in_progress' })
    now = 3_000
    store.transitionTicket(t.id, { state: 'resolved', outcome: 'part_replaced', partNumber: 'RF-CP-4410' })
    const d = device.id
    expect(actions).toEqual([
      { kind: 'hold', deviceId: d, component: 'compressor', atMs: 2_000 },
      { kind: 'hold', deviceId: d, component: 'condenser_fan', atMs: 2_000 },
      { kind: 'reset', deviceId: d, component: 'compressor', atMs: 3_000 },
      { kind: 'reset', deviceId: d, component: 'condenser_fan', atMs: 3_000 },
      { kind: 'release', deviceId: d, component: 'compressor', atMs: 3_000 },
      { kind: 'release', deviceId: d, component: 'condenser_fan', atMs: 3_000 },
    ])
    off()
    store.transitionTicket(store.applyDetectorEvent(event(d, { faultCode: 'REF-LEAK', component: 'sealed_system', episodeId: 'x' }), 10 * 86_400_000).ticket!.id, { state: 'cancelled' })
    expect(actions).toHaveLength(6)
  })

  it('no fault found, a declined repair or a cancellation resets nothing; they only release', () => {
    const base = { ticket: { deviceId: 'ref-a' } as never, from: 'in_progress' as const, components: ['door_seal'], atMs: 5 }
    for (const outcome of ['no_fault_found', 'customer_declined'] as const) {
      expect(repairActions({ ...base, to: 'resolved', outcome })).toEqual([{ kind: 'release', deviceId: 'ref-a', component: 'door_seal', atMs: 5 }])
    }
    expect(repairActions({ ...base, to: 'cancelled', outcome: null }).map((a) => a.kind)).toEqual(['release'])
    expect(repairActions({ ...base, to: 'scheduled', outcome: null })).toEqual([])
    expect(repairActions({ ...base, to: 'resolved', outcome: 'repaired' }).map((a) => a.kind)).toEqual(['reset', 'release'])
  })
})
