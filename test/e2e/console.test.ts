/**
 * The service console and the owner's status page in a real browser (issue 15 §5): Debian's
 * Chromium driven by playwright-core against a real `forewarn start` with a small simulated fleet.
 * Screenshots of every page go to test-artifacts/console/ (docs/console/ holds current ones).
 * axe-core checks each page: no serious or critical violations.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { chromium, type BrowserContext, type Page } from 'playwright-core'
import { freePort, removeDir, tempDir } from '../services/process.ts'
import { apiCall, waitFor } from './helpers.ts'

const CHROMIUM = '/usr/bin/chromium'
const ADMIN_KEY = 'console-e2e-admin-key-0123456789abcdef'
const ARTIFACTS = join(import.meta.dirname, '..', '..', 'test-artifacts', 'console')
const bin = join(import.meta.dirname, '..', '..', 'bin', 'forewarn.js')
const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8')
const haveChromium = existsSync(CHROMIUM)

interface Ticket { id: string; deviceId: string; state: string; evidence: Array<{ value: number }>; appliance: { serial: string }; fault: { code: string }; links: { status?: string }; sla: { policy?: string } }

async function axeSerious(page: Page): Promise<Array<{ id: string; impact: string; nodes: number }>> {
  await page.evaluate(axeSource)
  // Page-side code as strings: this file is type-checked without the DOM library.
  const result = await page.evaluate<{ violations: Array<{ id: string; impact: string; nodes: unknown[] }> }>(
    "axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21aa'] } })")
  return result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.length }))
}

async function shoot(page: Page, name: string): Promise<void> {
  await page.setViewportSize({ width: 1280, height: 900 })
  await page.screenshot({ path: join(ARTIFACTS, `${name}-1280.png`), fullPage: true })
  await page.setViewportSize({ width: 390, height: 844 })
  await page.waitForTimeout(300)
  await page.screenshot({ path: join(ARTIFACTS, `${name}-phone.png`), fullPage: true })
  // At phone width nothing but the scroll regions may be wider than the window.
  const overflow = await page.evaluate<number>('document.documentElement.scrollWidth - window.innerWidth')
  expect([name, overflow]).toEqual([name, 0])
  await page.setViewportSize({ width: 1280, height: 900 })
}

describe.skipIf(!haveChromium && process.env.CI !== 'true')('service console in Chromium', () => {
  let proc: ChildProcess | null = null
  let dataDir = ''
  let profileDir = ''
  let context: BrowserContext
  let page: Page
  let base = ''
  let ticket: Ticket
  let apiPort = 0
  let mqttPort = 0

  const start = async (extra: string[]): Promise<void> => {
    proc = spawn(process.execPath, [bin, 'start', ...extra, '--api-port', String(apiPort), '--mqtt-port', String(mqttPort), '--data-dir', dataDir], {
      env: { ...process.env, FOREWARN_ADMIN_KEY: ADMIN_KEY, FOREWARN_SIMULATE_CATCH_UP_S: '20', FOREWARN_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'ignore', 'inherit'],
      detached: true,
    })
    await waitFor('forewarn to answer', async () => {
      try {
        return (await fetch(`${base}/healthz`)).ok ? true : undefined
      } catch {
        return undefined
      }
    }, 30_000, 200)
  }
  const stop = async (): Promise<void> => {
    if (proc?.pid !== undefined && proc.exitCode === null) {
      const exited = new Promise((r) => proc?.once('exit', r))
      process.kill(-proc.pid, 'SIGTERM')
      await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))])
      if (proc.exitCode === null) process.kill(-proc.pid, 'SIGKILL')
    }
  }

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true })
    dataDir = tempDir('console-data')
    profileDir = tempDir('console-chromium')
    apiPort = await freePort()
    mqttPort = await freePort()
    base = `http://127.0.0.1:${apiPort}`
    await start(['--simulate', '6'])
    ticket = await waitFor('a proactive ticket from the simulated fleet', async () => {
      const { body } = await apiCall<{ items: Ticket[] }>(base, ADMIN_KEY, '/tickets?limit=100')
      return body.items.find((t) => t.state === 'open')
    }, 150_000, 1000)
    // A fresh profile per run; the flags keep Chromium from reaching out to the network on its own.
    context = await chromium.launchPersistentContext(profileDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      viewport: { width: 1280, height: 900 },
    })
    page = context.pages()[0] ?? await context.newPage()
  }, 240_000)

  afterAll(async () => {
    await context?.close()
    await stop()
    if (dataDir) removeDir(dataDir)
    if (profileDir) removeDir(profileDir)
  })

  it('signs in with an API key held only in an HttpOnly, SameSite=Strict session cookie', async () => {
    await page.goto(`${base}/`)
    await expect(page.getByLabel('API key').isVisible()).resolves.toBe(true)
    expect(await axeSerious(page)).toEqual([])
    await shoot(page, 'sign-in')
    await page.getByLabel('API key').fill('not-a-key')
    await page.getByRole('button', { name: 'Sign in' }).click()
    await expect(page.getByRole('alert').textContent()).resolves.toContain('not known')
    // Keyboard only: the key field has focus on arrival, Enter submits.
    await page.getByLabel('API key').fill('')
    await page.getByLabel('API key').focus()
    await page.keyboard.type(ADMIN_KEY)
    await page.keyboard.press('Enter')
    await page.getByRole('heading', { name: 'Fleet', level: 1 }).waitFor()
    await page.keyboard.press('Tab')
    expect(await page.evaluate<string>('document.activeElement.textContent')).toBe('Skip to content')
    await page.keyboard.press('Enter')
    expect(await page.evaluate<string>('document.activeElement.id')).toBe('main')
    expect(page.url()).toBe(`${base}/#main`)
    const cookies = await context.cookies(base)
    expect(cookies.map((c) => [c.name, c.httpOnly, c.sameSite])).toEqual([['forewarn_session', true, 'Strict']])
    expect(cookies[0]!.value).not.toContain(ADMIN_KEY)
    expect(await page.evaluate<string>('document.cookie')).toBe('')
    expect(await page.content()).not.toContain(ADMIN_KEY)
  })

  it('the fleet page lists the devices, counts them, and updates live without a reload', async () => {
    const { body: devices } = await apiCall<{ items: Array<{ id: string }> }>(base, ADMIN_KEY, '/devices?limit=100')
    expect(devices.items).toHaveLength(6)
    const listed = await page.locator('table.devices tbody tr').count()
    expect(listed).toBe(6)
    for (const d of devices.items) await expect(page.locator('table.devices').textContent()).resolves.toContain(d.id)
    await expect(page.locator('table.warnings').textContent()).resolves.toContain(ticket.id)
    const row = page.locator('[data-sla-row]', { hasText: ticket.id })
    await expect(row.locator('.clock').textContent()).resolves.toMatch(/ (left|late)$/)
    // The board says which clock runs; a fault found early is on time or at risk by its own clock, not breached.
    const { body: current } = await apiCall<Ticket>(base, ADMIN_KEY, `/tickets/${ticket.id}`)
    await expect(row.locator('[data-sla-policy]').getAttribute('data-sla-policy')).resolves.toBe(current.sla.policy)
    if (current.sla.policy === 'predicted') {
      await expect(row.locator('[data-sla-policy]').textContent()).resolves.toBe('predicted fault: visit before the expected failure')
      await expect(row.locator('[data-sla-badge]').textContent()).resolves.toMatch(/^(on time|at risk)$/)
    }
    expect(await axeSerious(page)).toEqual([])
    await shoot(page, 'fleet')

    await page.getByText('Live updates: on').waitFor({ timeout: 15_000 })
    await page.evaluate('window.stayed = true')
    const moved = await apiCall(base, ADMIN_KEY, `/tickets/${ticket.id}/transitions`, { method: 'POST', body: JSON.stringify({ state: 'acknowledged' }) })
    expect(moved.status).toBe(200)
    await page.locator('[data-sla-row]', { hasText: ticket.id }).getByText('confirmed').waitFor({ timeout: 20_000 })
    expect(await page.evaluate<boolean>('window.stayed === true')).toBe(true)
  }, 60_000)

  it('after a stop and a start on the same data directory the charts still have the recent window', async () => {
    const points = `fetch('/console/appliances/${ticket.deviceId}/telemetry').then((r) => r.json()).then((b) => b.series === null ? [0, null] : [b.series.times.length, b.series.source])`
    const [before] = await page.evaluate<[number, string | null]>(points)
    expect(before).toBeGreaterThan(20)
    await stop()
    expect(proc?.exitCode).toBe(0)
    // No fleet this time: nothing new arrives, so whatever the charts show was stored before the stop.
    await start([])
    await page.goto(`${base}/`)
    if (await page.getByLabel('API key').isVisible()) {
      await page.getByLabel('API key').fill(ADMIN_KEY)
      await page.getByRole('button', { name: 'Sign in' }).click()
    }
    await page.getByRole('heading', { name: 'Fleet', level: 1 }).waitFor()
    const [after, source] = await page.evaluate<[number, string | null]>(points)
    expect([after >= before, source]).toEqual([true, 'store'])
  }, 60_000)

  it('a device with a warning opens; its chart has drawn data and the warning is marked on it', async () => {
    await page.locator(`table.warnings a[href="/console/appliances/${ticket.deviceId}"]`).click()
    await page.waitForURL(`${base}/console/appliances/${ticket.deviceId}`)
    await page.getByRole('heading', { name: 'Health record' }).waitFor()
    const chart = page.locator('.chart[data-drawn-points]').first()
    await chart.waitFor({ timeout: 15_000 })
    expect(Number(await chart.getAttribute('data-drawn-points'))).toBeGreaterThan(20)
    // Pixels the line drew: the plot canvas is not blank.
    const inked = await page.evaluate<number>(`(() => {
      const c = document.querySelector('.chart[data-drawn-points] canvas')
      const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data
      let n = 0
      for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++
      return n
    })()`)
    expect(inked).toBeGreaterThan(500)
    const marks = page.locator('.warn-mark')
    expect(await marks.count()).toBeGreaterThan(0)
    const box = await page.locator('.chart-box').filter({ has: page.locator('.warn-mark') }).first().locator('.u-over').boundingBox()
    const mark = await marks.first().boundingBox()
    expect(box).not.toBeNull()
    expect(mark!.x).toBeGreaterThanOrEqual(box!.x)
    expect(mark!.x).toBeLessThanOrEqual(box!.x + box!.width)
    await expect(page.locator('[data-chain]').getAttribute('data-chain')).resolves.toBe('ok')
    await expect(page.locator('#life-h + ul').textContent()).resolves.toMatch(/failure expected in (about )?\d/)
    expect(await axeSerious(page)).toEqual([])
    await shoot(page, 'appliance')
  }, 60_000)

  let statusPath = ''

  it("a ticket's SLA clock is visible, with coverage, parts and delivery", async () => {
    await page.goto(`${base}/console/tickets/${ticket.id}`)
    const clock = page.locator('#sla-h + p .clock')
    await expect(clock.isVisible()).resolves.toBe(true)
    await expect(clock.textContent()).resolves.toMatch(/\d+ (s|min|h \d\d min|days \d+ h) (left|late)$/)
    await expect(page.locator('#sla-h ~ p[data-sla-policy]').textContent()).resolves.toMatch(/^Service level: (predicted fault: visit before the expected failure|breakdown: P\d clock)\. (Predicted fault|Breakdown)/)
    await expect(page.locator('.facts').textContent()).resolves.toMatch(/Who pays.*(manufacturer|provider|customer)/s)
    await expect(page.locator('#delivery-h + * ').textContent()).resolves.toContain('pull feed')
    statusPath = (await page.locator('[data-status-link]').getAttribute('href')) ?? ''
    expect(statusPath).toMatch(/^\/status\/[A-Za-z0-9_-]{40,}$/)
    expect(`${base}${statusPath}`).toBe(ticket.links.status)
    expect(await axeSerious(page)).toEqual([])
    await shoot(page, 'ticket')
  }, 60_000)

  it('signing out ends access', async () => {
    await page.getByRole('button', { name: 'Sign out' }).click()
    await page.getByLabel('API key').waitFor()
    expect(await context.cookies(base)).toEqual([])
    await page.goto(`${base}/console/tickets/${ticket.id}`)
    await page.getByLabel('API key').waitFor()
    expect(page.url()).toBe(`${base}/`)
    const data = await page.evaluate(async () => (await fetch('/console/fleet')).status)
    expect(data).toBe(401)
  })

  it("the owner's status page shows the state in plain words and nothing internal; revoked or unknown is not found", async () => {
    const res = await page.goto(`${base}${statusPath}`)
    expect(res?.status()).toBe(200)
    const text = (await page.locator('main').textContent()) ?? ''
    expect(text).toContain('Found early')
    expect(text).toContain('Problem confirmed')
    expect(text).toMatch(/We promise|promised/)
    expect(text).toMatch(/We found this early, before anything broke down|our breakdown service/)
    expect(text).not.toMatch(/\bP[123]\b|working hours \(/)
    const html = await page.content()
    const { body: full } = await apiCall<Ticket>(base, ADMIN_KEY, `/tickets/${ticket.id}`)
    for (const secret of [ticket.id, ticket.deviceId, full.appliance.serial, full.fault.code, ADMIN_KEY, 'Bearer', ...full.evidence.map((e) => String(e.value))]) {
      expect([secret, html.includes(secret)]).toEqual([secret, false])
    }
    expect(await axeSerious(page)).toEqual([])
    await shoot(page, 'status')

    const revoked = await apiCall(base, ADMIN_KEY, `/tickets/${ticket.id}/status-link/revoke`, { method: 'POST', body: '{}' })
    expect(revoked.status).toBe(200)
    const gone = await page.goto(`${base}${statusPath}`)
    expect(gone?.status()).toBe(404)
    await expect(page.locator('h1').textContent()).resolves.toBe('Not found')
    const unknown = await page.goto(`${base}/status/${'A'.repeat(56)}`)
    expect(unknown?.status()).toBe(404)
  })
})
