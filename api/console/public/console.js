/* Forewarn console: local times, live SLA clocks, live fleet updates (SSE), telemetry charts (uPlot).
   Plain script, no build step. It never sees the API key: requests ride on the session cookie. */
(function () {
  'use strict'

  function localTimes (root) {
    root.querySelectorAll('time[data-local]').forEach(function (el) {
      var d = new Date(el.getAttribute('datetime'))
      if (!isNaN(d)) el.textContent = d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' })
    })
  }

  function span (ms) {
    var s = Math.floor(Math.abs(ms) / 1000)
    if (s < 60) return s + ' s'
    var m = Math.floor(s / 60)
    if (m < 60) return m + ' min'
    var h = Math.floor(m / 60)
    if (h < 48) return h + ' h ' + String(m % 60).padStart(2, '0') + ' min'
    return Math.floor(h / 24) + ' days ' + (h % 24) + ' h'
  }

  var slaWords = { on_time: 'on time', at_risk: 'at risk', breached: 'breached' }

  function tickClocks () {
    var now = Date.now()
    document.querySelectorAll('.clock[data-due]').forEach(function (el) {
      var due = Date.parse(el.getAttribute('data-due'))
      var start = Date.parse(el.getAttribute('data-start'))
      var left = due - now
      el.textContent = left >= 0 ? span(left) + ' left' : span(left) + ' late'
      var status = left < 0 ? 'breached' : left <= (due - start) / 4 ? 'at_risk' : 'on_time'
      var badge = el.parentElement && el.parentElement.parentElement && el.parentElement.parentElement.querySelector('[data-sla-badge]')
      if (!badge) badge = el.parentElement && el.parentElement.querySelector('[data-sla-badge]')
      if (badge && badge.getAttribute('data-status') !== status) {
        badge.setAttribute('data-status', status)
        badge.className = 'badge sla-' + status
        badge.textContent = slaWords[status]
      }
    })
  }

  function live () {
    var box = document.querySelector('[data-live]')
    var status = document.getElementById('live-status')
    if (!box || !window.EventSource) return
    var say = function (t) { if (status) status.textContent = t }
    var es = new EventSource('/console/events')
    es.addEventListener('open', function () { say('Live updates: on.') })
    es.addEventListener('error', function () { say('Live updates: reconnecting…') })
    es.addEventListener('fleet', function () {
      fetch(box.getAttribute('data-live'), { headers: { accept: 'text/html' }, credentials: 'same-origin' }).then(function (r) {
        if (r.status === 401) { window.location.assign('/'); return null }
        return r.ok ? r.text() : null
      }).then(function (html) {
        if (html === null) return
        var active = document.activeElement && document.activeElement.getAttribute('href')
        box.innerHTML = html
        localTimes(box)
        tickClocks()
        if (active) { var again = box.querySelector('a[href="' + active + '"]'); if (again) again.focus() }
        say('Live updates: on. Updated ' + new Date().toLocaleTimeString() + '.')
      })
    })
  }

  function fmt (v, unit) {
    if (v === null || v === undefined) return '–'
    var a = Math.abs(v)
    var t = Number(v.toFixed(a >= 100 ? 0 : a >= 10 ? 1 : 2))
    return unit ? t + ' ' + unit : String(t)
  }

  function charts () {
    var box = document.querySelector('[data-telemetry]')
    var note = document.getElementById('charts-note')
    if (!box) return
    fetch(box.getAttribute('data-telemetry'), { credentials: 'same-origin' }).then(function (r) { return r.ok ? r.json() : null }).then(function (data) {
      if (!data || !data.series || data.series.times.length === 0) {
        if (note) note.textContent = 'No recent telemetry held for this appliance yet.'
        box.hidden = true
        return
      }
      var s = data.series
      var hours = s.bucketMs / 3600000
      if (note) note.textContent = 'Mean per ' + (hours === 1 ? 'hour' : hours + ' hours') + ' over the last ' + Math.round(s.times.length * hours / 24 * 10) / 10 + ' days (appliance time), from ' + (s.source === 'influxdb' ? 'InfluxDB' : 'the embedded recent window') + '. Dashed lines mark warnings.'
      var xs = s.times.map(function (t) { return t / 1000 })
      s.metrics.forEach(function (name, i) {
        var el = box.querySelector('.chart[data-metric="' + name + '"]')
        if (!el) return
        var unit = el.getAttribute('data-unit')
        var ys = s.values[i]
        var present = ys.filter(function (v) { return v !== null })
        var summary = box.querySelector('[data-summary="' + name + '"]')
        if (present.length === 0) { if (summary) summary.textContent = 'No readings in this window.'; return }
        var last = present[present.length - 1]
        if (summary) summary.textContent = 'Latest ' + fmt(last, unit) + '; lowest ' + fmt(Math.min.apply(null, present), unit) + ', highest ' + fmt(Math.max.apply(null, present), unit) + '.'
        var marks = data.warnings.filter(function (w) { return w.at / 1000 >= xs[0] && w.at / 1000 <= xs[xs.length - 1] })
        var opts = {
          width: Math.max(260, el.clientWidth), height: 200,
          legend: { show: false },
          scales: { x: { time: true } },
          axes: [{ stroke: '#30343b' }, { stroke: '#30343b', size: 56 }],
          series: [{}, { label: name, stroke: '#0b4fb3', width: 1.5, spanGaps: false }],
          hooks: {
            draw: [function (u) {
              var over = u.over
              over.querySelectorAll('.warn-mark').forEach(function (m) { m.remove() })
              marks.forEach(function (w) {
                var left = u.valToPos(w.at / 1000, 'x')
                var m = document.createElement('div')
                m.className = 'warn-mark'
                m.style.left = left + 'px'
                m.setAttribute('role', 'img')
                m.setAttribute('aria-label', 'Warning ' + w.label + ' raised at ' + new Date(w.at).toLocaleString())
                m.setAttribute('data-warning-at', String(w.at))
                var lab = document.createElement('span')
                lab.textContent = w.label
                lab.setAttribute('aria-hidden', 'true')
                m.appendChild(lab)
                over.appendChild(m)
              })
              el.setAttribute('data-drawn-points', String(present.length))
            }],
          },
        }
        var plot = new window.uPlot(opts, [xs, ys], el)
        window.addEventListener('resize', function () { plot.setSize({ width: Math.max(260, el.clientWidth), height: 200 }) })
      })
    })
  }

  document.addEventListener('DOMContentLoaded', function () {
    localTimes(document)
    tickClocks()
    setInterval(tickClocks, 1000)
    live()
    if (window.uPlot) charts()
  })
})()
