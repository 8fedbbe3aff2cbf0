// The spotfleet dashboard: plain JavaScript over the public API, no build step.
// Credentials come from the URL fragment (#client=…&token=…[&operator=…], what
// the demo prints; a fragment never reaches a server log) or from the form,
// and live in sessionStorage for this tab only. Every view refreshes every few
// seconds; a route this server does not have shows an empty state.
'use strict'
;(() => {
  const REFRESH_MS = 5000
  const $ = (sel) => document.querySelector(sel)
  const el = (tag, props = {}, ...children) => {
    const e = Object.assign(document.createElement(tag), props)
    for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(c == null ? '' : String(c)))
    return e
  }

  // ---- credentials ---------------------------------------------------------
  function readCredentials() {
    const hash = new URLSearchParams(location.hash.slice(1))
    if (hash.get('token') && hash.get('client')) {
      const c = { client: hash.get('client'), token: hash.get('token'), operator: hash.get('operator') || '' }
      sessionStorage.setItem('spotfleet', JSON.stringify(c))
      history.replaceState(null, '', location.pathname) // keep the token out of the address bar and history
      return c
    }
    try { return JSON.parse(sessionStorage.getItem('spotfleet') || 'null') } catch { return null }
  }
  let creds = readCredentials()

  function showLogin(message) {
    $('#main').hidden = true
    const form = $('#login')
    form.hidden = false
    if (message) setStatus('unauthorized', message)
  }
  $('#login').addEventListener('submit', (ev) => {
    ev.preventDefault()
    const f = new FormData(ev.target)
    creds = { client: String(f.get('client')).trim(), token: String(f.get('token')).trim(), operator: String(f.get('operator') || '').trim() }
    sessionStorage.setItem('spotfleet', JSON.stringify(creds))
    start()
  })
  $('#forget').addEventListener('click', () => { sessionStorage.removeItem('spotfleet'); creds = null; showLogin('enter a token') })

  // ---- API -----------------------------------------------------------------
  class Unreachable extends Error {}
  async function api(path, { method = 'GET', body, operator = false } = {}) {
    const headers = { authorization: `Bearer ${operator ? creds.operator : creds.token}` }
    if (body !== undefined) headers['content-type'] = 'application/json'
    let res
    try {
      res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) })
    } catch {
      throw new Unreachable('service unreachable')
    }
    const text = await res.text()
    let json = null
    try { json = text ? JSON.parse(text) : null } catch { /* not JSON */ }
    return { status: res.status, body: json }
  }
  const C = () => encodeURIComponent(creds.client)

  function setStatus(state, text) {
    const s = $('#status')
    s.dataset.state = state
    s.textContent = text
  }
  function empty(section, text) {
    const p = $(`${section} .empty`)
    p.hidden = !text
    p.textContent = text || ''
  }
  /** The body of a list route, or an empty state for a route the server lacks or refuses. */
  function listOrEmpty(section, r, what) {
    // A route the server lacks answers "Route GET /… not found"; a row of another client is just not found.
    if (r.status === 404 && /^Route /.test(r.body?.message ?? '')) { empty(section, `${what}: not available on this server yet`); return null }
    if (r.status === 404) { empty(section, `${what}: not found for this token's client`); return null }
    if (r.status === 401 || r.status === 403) { empty(section, `${what}: this token may not read it`); return null }
    if (r.status !== 200) { empty(section, `${what}: error ${r.status}`); return null }
    const rows = Array.isArray(r.body) ? r.body : Array.isArray(r.body?.data) ? r.body.data : []
    empty(section, rows.length ? '' : `no ${what} yet`)
    return rows
  }

  // ---- formatting ----------------------------------------------------------
  const time = (t) => (t ? new Date(/Z|[+-]\d\d:?\d\d$/.test(t) ? t : `${String(t).replace(' ', 'T')}Z`).toLocaleString() : '–')
  const ms = (n) => (n == null ? '–' : n < 1000 ? `${n} ms` : `${(n / 1000).toFixed(1)} s`)
  const short = (id) => (id ? String(id).slice(0, 8) : '–')
  const pick = (o, ...keys) => { for (const k of keys) if (o && o[k] != null) return o[k]; return null }
  const hours = (h) => (h == null ? '–' : h >= 48 ? `${(h / 24).toFixed(1)} d` : h >= 1 ? `${Number(h).toFixed(1)} h` : `${Math.round(h * 60)} min`)

  // ---- agents, replicas, mode toggle ---------------------------------------
  let agents = []
  async function setMode(agent, mode, buttons) {
    for (const b of buttons) b.disabled = true
    const body = mode === 'auto' ? { autoSwitchEnabled: true, manualReplicaEnabled: false } : { manualReplicaEnabled: true, autoSwitchEnabled: false }
    try {
      const r = await api(`/api/client/agents/${encodeURIComponent(agent.id)}/config`, { method: 'POST', body })
      if (r.status >= 300) alert(`changing the mode failed: ${r.body?.message || r.status}`)
    } catch (err) {
      setStatus('unreachable', `${err.message}, retrying`)
    }
    await refreshAgents().catch(() => {})
  }

  function modeCell(a) {
    const auto = el('button', { type: 'button', textContent: 'auto switch', title: 'switch automatically on interruption signals' })
    const manual = el('button', { type: 'button', textContent: 'manual replica', title: 'keep one replica you manage' })
    auto.setAttribute('aria-pressed', String(Boolean(pick(a, 'autoSwitchEnabled', 'auto_switch_enabled'))))
    manual.setAttribute('aria-pressed', String(Boolean(pick(a, 'manualReplicaEnabled', 'manual_replica_enabled'))))
    auto.dataset.mode = 'auto'
    manual.dataset.mode = 'manual'
    for (const b of [auto, manual]) b.addEventListener('click', () => { if (b.getAttribute('aria-pressed') !== 'true') setMode(a, b.dataset.mode, [auto, manual]) })
    return el('span', { className: 'mode' }, auto, manual)
  }

  function replicaCells(rep) {
    if (!rep) return [el('td', {}, '–'), el('td', {}, '')]
    const r = rep.replica ?? rep
    const status = pick(r, 'status') ?? '?'
    const progress = Number(pick(r, 'state_transfer_progress', 'stateTransferProgress') ?? 0)
    const sync = pick(r, 'sync_status', 'syncStatus') ?? ''
    const pool = r.pool?.name ?? pick(r, 'poolId', 'pool_id') ?? ''
    return [
      el('td', {}, el('span', { className: status === 'ready' ? 'ok' : 'warn' }, status), ' ', el('span', { className: 'muted' }, pool)),
      el('td', {}, el('progress', { max: 100, value: progress }), ` ${progress}% ${sync}`),
    ]
  }

  async function refreshAgents() {
    const [ra, rr] = await Promise.all([api(`/api/client/${C()}/agents`), api(`/api/client/${C()}/replicas`)])
    if (ra.status === 401) { showLogin('token refused: enter a valid one'); throw new Error('unauthorized') }
    const rows = listOrEmpty('#agents-view', ra, 'agents') || []
    agents = rows
    const replicas = new Map()
    for (const r of (rr.status === 200 && Array.isArray(rr.body) ? rr.body : [])) replicas.set(r.agentId ?? r.agent_id, r)
    $('#agent-count').textContent = `(${rows.length})`
    const body = el('tbody')
    for (const a of rows) {
      const tr = el('tr', { id: `agent-${a.id}` },
        el('td', { title: a.id }, a.logicalAgentId ?? short(a.id)),
        el('td', {}, a.instanceId ?? '–'),
        el('td', {}, a.currentPoolId ?? (a.instanceType && a.az ? `${a.instanceType}.${a.az}` : '–')),
        el('td', { className: a.status === 'online' ? 'ok' : a.status === 'offline' ? 'warn' : 'muted', title: a.status === 'offline' ? 'silent for AGENT_OFFLINE_SECONDS; back online with its next heartbeat' : '' }, a.status ?? '–'),
        el('td', {}, modeCell(a)),
        ...replicaCells(replicas.get(a.id)),
        el('td', {}, time(a.lastInterruptionSignal)))
      tr.dataset.agentId = a.id
      body.append(tr)
    }
    $('#agents tbody').replaceWith(body)
    fillInstanceSelect(rows)
  }

  // ---- interruptions -------------------------------------------------------
  async function refreshInterruptions() {
    const rows = listOrEmpty('#interruptions-view', await api(`/api/client/${C()}/interruptions?limit=20`), 'interruptions')
    const names = new Map(agents.map((a) => [a.id, a.logicalAgentId ?? short(a.id)]))
    const body = el('tbody')
    for (const i of rows || []) {
      const ok = i.success === true ? 'ok' : i.success === false ? 'bad' : 'muted'
      body.append(el('tr', {},
        el('td', {}, time(i.detectedAt)), el('td', {}, names.get(i.agentId) ?? short(i.agentId)),
        el('td', {}, i.signalType ?? '–'), el('td', {}, i.poolId ?? '–'),
        el('td', { className: ok }, i.responseAction ?? '–'), el('td', {}, ms(i.responseTimeMs)), el('td', {}, ms(i.failoverTimeMs))))
    }
    $('#interruptions tbody').replaceWith(body)
  }

  // ---- charts (uPlot) ------------------------------------------------------
  const charts = {}
  const PALETTE = ['#2f6fdf', '#1f8a4c', '#b7791f', '#8e44ad', '#16a085', '#d35400', '#2c3e50', '#c0392b', '#7f8c8d', '#27ae60', '#e67e22', '#9b59b6']
  /** `pad`: seconds added on each side of the x range (a single bucket would otherwise span years). */
  function draw(id, series, data, pad) {
    const box = document.getElementById(id)
    const key = series.map((s) => s.label).join('|')
    let c = charts[id]
    if (c && c.key !== key) { c.plot.destroy(); c = undefined }
    if (!c) {
      // From the data itself: for a single x value uPlot's own range spans 1000 days.
      const x = { time: true, range: (u) => { const xs = u.data[0]; return [xs[0] - pad, xs[xs.length - 1] + pad] } }
      const plot = new uPlot({ width: Math.max(320, box.clientWidth || 560), height: 280, scales: { x }, series: [{}, ...series], axes: [{}, { size: 60 }] }, data, box)
      c = charts[id] = { plot, key }
    } else {
      c.plot.setData(data)
    }
    // Points drawn, in all and per series (label -> [points, stroke]): what the browser test checks.
    const perSeries = series.map((s, i) => [s.label, [data[i + 1].filter((y) => y != null).length, s.stroke]])
    box.dataset.points = String(perSeries.reduce((n, [, [k]]) => n + k, 0))
    box.dataset.series = JSON.stringify(Object.fromEntries(perSeries))
  }
  function clear(id) {
    if (charts[id]) { charts[id].plot.destroy(); delete charts[id] }
    document.getElementById(id).dataset.points = '0'
    document.getElementById(id).dataset.series = '{}'
  }
  const epoch = (t) => (typeof t === 'number' ? (t > 1e12 ? t / 1000 : t) : Date.parse(/Z|[+-]\d\d:?\d\d$/.test(t) ? t : `${String(t).replace(' ', 'T')}Z`) / 1000)

  function fillInstanceSelect(rows) {
    const sel = $('#price-instance')
    const want = rows.map((a) => a.instanceId).filter(Boolean)
    const have = [...sel.options].map((o) => o.value)
    if (want.join() === have.join()) return
    const current = sel.value
    sel.replaceChildren(...rows.filter((a) => a.instanceId).map((a) => el('option', { value: a.instanceId }, `${a.logicalAgentId ?? short(a.id)} · ${a.instanceId}`)))
    if (want.includes(current)) sel.value = current
  }
  $('#price-instance').addEventListener('change', () => refreshPrices().catch(() => {}))

  async function refreshPrices() {
    const instance = $('#price-instance').value
    if (!instance) { clear('price-chart'); empty('#prices-view', 'no instance to chart yet'); return }
    const r = await api(`/api/client/instances/${encodeURIComponent(instance)}/price-history?days=7&interval=hour`)
    if (r.status !== 200 || !r.body || !Array.isArray(r.body.data)) {
      clear('price-chart')
      const missing = r.status === 404 && /^Route /.test(r.body?.message ?? '')
      empty('#prices-view', missing ? 'price history: not available on this server yet' : `price history: ${r.body?.message ?? `error ${r.status}`}`)
      return
    }
    const { data, pools = [] } = r.body
    if (data.length === 0) { clear('price-chart'); empty('#prices-view', 'no prices yet'); return }
    empty('#prices-view', '')
    const xs = data.map((d) => epoch(d.time))
    const series = [{ label: 'on-demand', stroke: '#c0392b', dash: [6, 4], width: 2 }]
    const cols = [data.map((d) => (d.onDemand == null ? (r.body.onDemandPrice ?? null) : Number(d.onDemand)))]
    pools.forEach((p, i) => {
      series.push({ label: p.name ?? p.id, stroke: PALETTE[i % PALETTE.length], width: 1.5, spanGaps: true })
      cols.push(data.map((d) => (d[p.key] == null ? null : Number(d[p.key]))))
    })
    draw('price-chart', series, [xs, ...cols], 1800)
  }

  async function refreshSavings() {
    const rows = listOrEmpty('#savings-view', await api(`/api/client/${C()}/savings?range=daily`), 'savings')
    if (!rows || rows.length === 0) { clear('savings-chart'); return }
    const xs = rows.map((d, i) => { const t = epoch(d.name ?? d.date); return Number.isFinite(t) ? t : i })
    const num = (k) => rows.map((d) => (d[k] == null ? null : Number(d[k])))
    draw('savings-chart', [
      { label: 'savings', stroke: '#1f8a4c', fill: 'rgba(31,138,76,.15)', width: 2 },
      { label: 'on-demand cost', stroke: '#c0392b', width: 1.5 },
      { label: 'actual cost', stroke: '#2f6fdf', width: 1.5 },
    ], [xs, num('savings'), num('onDemandCost'), num('modelCost')], 43200)
  }

  // ---- pools, dead letters -------------------------------------------------
  async function refreshPools() {
    const rows = listOrEmpty('#pools-view', await api('/api/pools/reliability'), 'pool rankings')
    const body = el('tbody')
    ;(rows || []).slice(0, 12).forEach((p, i) => {
      const tti = p.timeToInterruption || {}
      body.append(el('tr', {},
        el('td', {}, p.rank ?? i + 1), el('td', {}, p.poolId ?? '–'),
        el('td', {}, p.score ?? '–'),
        el('td', { title: `${p.terminations ?? 0} termination notices, ${p.rebalances ?? 0} rebalance recommendations in 30 days` }, p.interruptions ?? '–'),
        el('td', { title: tti.samples ? `median of ${tti.samples}, p90 ${hours(tti.p90Hours)}` : 'no termination notice in 30 days' }, hours(tti.p50Hours)),
        el('td', {}, p.avgSpotPrice ?? '–')))
    })
    $('#pools tbody').replaceWith(body)
  }

  async function refreshDeadLetters() {
    if (!creds.operator) { empty('#dead-letters-view', 'operators: add &operator=<OPERATOR_TOKEN> to the URL (or the form) to see them'); return }
    const rows = listOrEmpty('#dead-letters-view', await api('/api/operator/dead-letters?limit=20', { operator: true }), 'dead letters')
    const body = el('tbody')
    for (const d of rows || []) {
      body.append(el('tr', {}, el('td', {}, time(pick(d, 'createdAt', 'created_at'))), el('td', {}, d.topic ?? '–'),
        el('td', {}, pick(d, 'eventType', 'event_type') ?? '–'), el('td', { className: 'reason' }, d.reason ?? '')))
    }
    $('#dead-letters tbody').replaceWith(body)
  }

  // ---- the refresh loop ----------------------------------------------------
  let timer
  async function refresh() {
    clearTimeout(timer)
    try {
      await refreshAgents()
      const results = await Promise.allSettled([refreshInterruptions(), refreshPrices(), refreshSavings(), refreshPools(), refreshDeadLetters()])
      const down = results.find((r) => r.status === 'rejected' && r.reason instanceof Unreachable)
      if (down) throw down.reason
      setStatus('live', 'live')
      $('#updated').textContent = `updated ${new Date().toLocaleTimeString()}`
    } catch (err) {
      if (err instanceof Unreachable) setStatus('unreachable', 'service unreachable, retrying')
      else if (err.message === 'unauthorized') return
      else { setStatus('unreachable', `error: ${err.message}`); console.warn(err) }
    }
    timer = setTimeout(refresh, REFRESH_MS)
  }

  function start() {
    if (!creds || !creds.token || !creds.client) { showLogin(); setStatus('starting', 'no token'); return }
    $('#login').hidden = true
    $('#main').hidden = false
    refresh()
  }
  start()
})()
