// The jwtrevoke demo page: sign in at the issuer, call every API replica
// with the token, revoke it, and watch every replica refuse it.
'use strict';

(() => {
  const $ = (sel) => document.querySelector(sel);

  const state = {
    token: null,        // the current access token (raw JWT)
    claims: null,       // its decoded payload
    refresh: null,      // its refresh token
    spentRefresh: null, // the refresh token it replaced, for the reuse demo
    revoked: null,      // why the current token is revoked, if it is
    prev: null,         // {token, claims, why}: the token before this one
    status: null,       // the last /api/status answer
    cards: new Map(),   // replica number -> card element
    calls: new Map(),   // replica number -> {cur, prev} answers
  };

  // ---- helpers ----------------------------------------------------------

  function b64urlDecode(s) {
    s = s.replace(/-/g, '+').replace(/_/g, '/');
    while (s.length % 4) s += '=';
    const bin = atob(s);
    const bytes = Uint8Array.from(bin, (c) => c.charCodeAt(0));
    return new TextDecoder().decode(bytes);
  }

  function decodeJWT(raw) {
    try {
      return JSON.parse(b64urlDecode(raw.split('.')[1]));
    } catch {
      return {};
    }
  }

  const pad = (n, w = 2) => String(n).padStart(w, '0');
  function clock(d, millis) {
    const s = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
    return millis ? `${s}.${pad(d.getMilliseconds(), 3)}` : s;
  }
  const short = (s, n = 10) => (s && s.length > n ? s.slice(0, n) + '\u2026' : s || '\u2013');
  const fmtMs = (v) => (v == null ? '\u2013' : v < 1 ? `${v.toFixed(2)} ms` : v < 10 ? `${v.toFixed(1)} ms` : `${Math.round(v)} ms`);
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

  function el(tag, attrs = {}, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (k === 'class') e.className = v;
      else e.setAttribute(k, v);
    }
    for (const c of children) e.append(c);
    return e;
  }

  async function request(url, opts = {}) {
    const res = await fetch(url, { cache: 'no-store', ...opts });
    let body = null;
    const text = await res.text();
    if (text) {
      try { body = JSON.parse(text); } catch { body = { text }; }
    }
    return { status: res.status, body, headers: res.headers };
  }

  const postJSON = (path, data, token) => request(path, {
    method: 'POST',
    headers: {
      'Content-Type': 'application/json',
      ...(token ? { Authorization: `Bearer ${token}` } : {}),
    },
    body: JSON.stringify(data || {}),
  });

  // ---- activity log -----------------------------------------------------

  function log(kind, ...parts) {
    const list = $('#log');
    const msg = el('span', { class: 'msg' });
    for (const p of parts) {
      msg.append(typeof p === 'string' ? p : p);
    }
    const li = el('li', { 'data-kind': kind },
      el('time', {}, clock(new Date(), true)),
      el('span', { class: 'mark' }),
      msg);
    list.prepend(li);
    while (list.children.length > 60) list.lastChild.remove();
  }
  const code = (s) => el('span', { class: 'mono' }, s);

  // ---- busy buttons -----------------------------------------------------

  async function busy(button, fn) {
    const buttons = document.querySelectorAll('.session button');
    buttons.forEach((b) => { b.disabled = true; });
    button.classList.add('busy');
    try {
      await fn();
    } catch (err) {
      log('bad', `Request failed: ${err.message || err}`);
    } finally {
      button.classList.remove('busy');
      buttons.forEach((b) => { b.disabled = false; });
      render();
    }
  }

  // ---- session panel ----------------------------------------------------

  function setToken(pair, why) {
    if (state.token) {
      state.prev = { token: state.token, claims: state.claims, why };
    }
    state.token = pair.access_token;
    state.claims = decodeJWT(pair.access_token);
    state.refresh = pair.refresh_token;
    state.revoked = null;
  }

  function render() {
    const signedIn = !!state.token && !state.revoked;
    $('#signin').hidden = signedIn;
    $('#session-title').textContent = state.token ? 'Sign in again' : 'Sign in';
    $('#token-view').hidden = !state.token;
    if (!state.token) return;

    const c = state.claims || {};
    $('#avatar').textContent = (c.sub || '?').slice(0, 1);
    $('#who-name').textContent = c.sub || 'unknown';
    const st = $('#token-state');
    st.dataset.state = state.revoked ? 'revoked' : 'active';
    st.textContent = state.revoked ? 'Revoked token' : 'Active token';
    const note = $('#state-note');
    note.hidden = !state.revoked;
    note.textContent = state.revoked || '';

    setClaim('#tok-jti', short(c.jti, 14), c.jti);
    setClaim('#tok-sid', short(c.sid, 14), c.sid);
    setClaim('#tok-iat', c.iat ? `${clock(new Date(c.iat * 1000))}  (${c.iat})` : '\u2013', '');
    renderExp();

    document.querySelectorAll('[data-live-only]').forEach((e) => { e.hidden = !signedIn; });
    $('#refresh').disabled = !signedIn;
    $('#reuse').disabled = !signedIn || !state.spentRefresh;
    $('#logout').disabled = !signedIn;
    $('#logout-all').disabled = !signedIn;
  }

  function setClaim(sel, text, title) {
    const e = $(sel);
    e.textContent = text;
    e.title = title || '';
  }

  function renderExp() {
    const c = state.claims;
    if (!c || !c.exp) return;
    const left = Math.round(c.exp - Date.now() / 1000);
    const rest = left > 0 ? `${Math.floor(left / 60)}:${pad(left % 60)} left` : 'expired';
    $('#tok-exp').textContent = `${clock(new Date(c.exp * 1000))}  (${rest})`;
  }

  // ---- replica cards ----------------------------------------------------

  function buildCards(st) {
    const grid = $('#replicas');
    const tpl = $('#replica-template');
    for (const r of st.replicas) {
      if (state.cards.has(r.replica)) continue;
      const card = tpl.content.firstElementChild.cloneNode(true);
      card.id = `replica-${r.replica}`;
      card.querySelector('.card-title').textContent = `Replica ${r.replica}`;
      card.querySelector('.card-addr').textContent = `:${r.port}`;
      card.querySelector('.metrics').id = `status-${r.replica}`;
      grid.append(card);
      state.cards.set(r.replica, card);
    }
    $('#replicas-empty').hidden = state.cards.size > 0;
  }

  function replicaBase(r) {
    // The host the page was loaded from, the replica's port.
    return `${location.protocol}//${location.hostname}:${r.port}`;
  }

  function describe(ans) {
    if (!ans) return null;
    if (ans.status === 200) {
      const sub = ans.body && ans.body.claims ? ans.body.claims.sub : '';
      return { status: '200', code: '200', text: sub || 'ok', ok: true };
    }
    if (ans.status === 401) {
      const reason = (ans.body && (ans.body.reason || ans.body.error)) || 'unauthorized';
      return { status: '401', code: '401', text: reason, ok: false };
    }
    if (ans.status === 0) return { status: 'error', code: '\u2013', text: 'unreachable', ok: false };
    return { status: 'error', code: String(ans.status), text: 'error', ok: false };
  }

  function renderCard(n) {
    const card = state.cards.get(n);
    const call = state.calls.get(n);
    if (!card) return;
    const q = (role) => card.querySelector(`[data-role="${role}"]`);
    const cur = call && describe(call.cur);
    card.dataset.status = cur ? cur.status : '';
    q('code').textContent = cur ? cur.code : '\u2013';
    q('text').textContent = cur ? cur.text : 'Not called yet';
    q('detail').textContent = call && call.cur
      ? `GET /api/whoami \u00b7 ${fmtMs(call.cur.ms)} \u00b7 ${clock(call.at)}`
      : '\u00a0';
    const prev = q('prev');
    const p = call && describe(call.prev);
    prev.hidden = !p;
    prev.replaceChildren();
    if (p) {
      prev.append('Earlier token',
        el('span', { class: `tag ${p.ok ? 'ok' : 'bad'}` }, `${p.code} ${p.text}`));
      card.dataset.prevStatus = p.status;
    } else {
      delete card.dataset.prevStatus;
    }
  }

  async function whoami(r, token) {
    const t0 = performance.now();
    try {
      const res = await request(`${replicaBase(r)}/api/whoami`, {
        headers: { Authorization: `Bearer ${token}` },
      });
      return { ...res, ms: performance.now() - t0 };
    } catch {
      return { status: 0, body: null, ms: performance.now() - t0 };
    }
  }

  async function callAll() {
    if (!state.token || !state.status) return;
    const reps = state.status.replicas;
    const results = await Promise.all(reps.map(async (r) => {
      const [cur, prev] = await Promise.all([
        whoami(r, state.token),
        state.prev ? whoami(r, state.prev.token) : Promise.resolve(null),
      ]);
      return { n: r.replica, cur, prev };
    }));
    const at = new Date();
    const counts = {};
    for (const { n, cur, prev } of results) {
      state.calls.set(n, { cur, prev, at });
      renderCard(n);
      const card = state.cards.get(n);
      card.classList.remove('flash');
      void card.offsetWidth; // restart the animation
      card.classList.add('flash');
      const d = describe(cur);
      const key = `${d.code} ${d.text}`;
      counts[key] = (counts[key] || 0) + 1;
    }
    const summary = Object.entries(counts).map(([k, v]) => `${v} \u00d7 ${k}`).join(', ');
    const allOk = results.every((x) => x.cur.status === 200);
    const allRefused = results.every((x) => x.cur.status === 401);
    log(allOk ? 'ok' : allRefused ? 'bad' : 'warn',
      `Called ${results.length} replicas with `, code(short(state.claims.jti, 10)), `: ${summary}`);
    if (state.prev) {
      const prevCounts = {};
      for (const { prev } of results) {
        const d = describe(prev);
        const key = `${d.code} ${d.text}`;
        prevCounts[key] = (prevCounts[key] || 0) + 1;
      }
      const s = Object.entries(prevCounts).map(([k, v]) => `${v} \u00d7 ${k}`).join(', ');
      const prevOk = results.every((x) => x.prev.status === 200);
      const prevRefused = results.every((x) => x.prev.status === 401);
      log(prevOk ? 'ok' : prevRefused ? 'bad' : 'warn', 'Earlier token ', code(short(state.prev.claims.jti, 10)), `: ${s}`);
    }
    return results;
  }

  // confirmedLine says, after a logout, how many replicas refused the old
  // token and when the agents confirmed applying the revocation.
  function confirmedLine(results, body) {
    if (!results) return;
    const refused = results.filter((x) => x.cur.status === 401).length;
    const conf = body.confirmed_ms != null
      ? `confirmed ${body.confirmed_ms < 10 ? body.confirmed_ms.toFixed(1) : Math.round(body.confirmed_ms)} ms after logout (all ${body.agents} agents)`
      : `only ${body.confirmed} of ${body.agents} agents confirmed within 2 s`;
    log(refused === results.length ? 'bad' : 'warn', `Refused on ${refused}/${results.length} replicas, ${conf}`);
  }

  // ---- status feed ------------------------------------------------------

  function renderStatus(st) {
    $('#stream-name').textContent = st.stream;
    $('#stream-seq').textContent = st.stream_error ? '?' : String(st.last_seq);
    $('#nats-url').textContent = st.nats_url;
    buildCards(st);
    for (const r of st.replicas) {
      const card = state.cards.get(r.replica);
      if (!card) continue;
      const pill = card.querySelector('[data-role="ready"]');
      const ready = r.ready && !r.stale;
      pill.dataset.state = ready ? 'ready' : r.ready ? 'stale' : 'down';
      pill.textContent = ready ? 'ready' : r.ready ? 'stale' : 'not ready';
      pill.title = `last applied seq ${r.last_applied}`;
      const m = card.querySelector('.metrics');
      delete m.dataset.unknown;
      m.dataset.ready = String(r.ready);
      m.dataset.stale = String(r.stale);
      const set = (role, text, title) => {
        const e = m.querySelector(`[data-role="${role}"]`);
        e.textContent = text;
        if (title) e.title = title;
      };
      const noLag = r.lag_samples === 0;
      set('p50', noLag ? '\u2013' : fmtMs(r.lag_p50_ms), `last ${fmtMs(r.lag_last_ms)} over ${r.lag_samples} events`);
      set('p99', noLag ? '\u2013' : fmtMs(r.lag_p99_ms));
      set('applied', String(r.events_applied), `stream seq ${r.last_applied}`);
      set('fresh', r.ready ? `${Math.round(r.staleness_ms)} ms` : '\u2013', 'time since this agent last knew it had every event');
      renderSpark(card.querySelector('[data-role="spark"]'), r.lag_recent_ms || []);
    }
  }

  // renderSpark draws a replica's recent lags (publish → applied) as a
  // sparkline, highest lag at the top.
  function renderSpark(fig, lags) {
    if (!fig) return;
    const line = fig.querySelector('polyline');
    const cap = fig.querySelector('figcaption');
    if (lags.length === 0) {
      line.setAttribute('points', '');
      cap.textContent = 'recent lags: none yet';
      return;
    }
    const top = Math.max(...lags, 0.001);
    const y = (v) => (26 - (v / top) * 24).toFixed(1);
    const pts = lags.length === 1
      ? [`0,${y(lags[0])}`, `128,${y(lags[0])}`] // one sample: a level line
      : lags.map((v, i) => `${(i * 128 / (lags.length - 1)).toFixed(1)},${y(v)}`);
    line.setAttribute('points', pts.join(' '));
    cap.textContent = `last ${lags.length} lags: ${fmtMs(lags[lags.length - 1])} latest, ${fmtMs(top)} highest`;
    fig.dataset.points = String(lags.length);
  }

  // renderUnknown shows that the replicas' state is unknown while the
  // issuer's /api/status does not answer: grey pills saying so, and no
  // numbers, which would otherwise stay frozen at their last values and
  // look live.
  function renderUnknown() {
    $('#stream-seq').textContent = '?';
    for (const card of state.cards.values()) {
      const pill = card.querySelector('[data-role="ready"]');
      pill.dataset.state = 'unknown';
      pill.textContent = 'unreachable';
      pill.title = 'the issuer is not answering /api/status: this replica\u2019s state is unknown';
      const m = card.querySelector('.metrics');
      m.dataset.unknown = 'true';
      for (const role of ['p50', 'p99', 'applied', 'fresh']) {
        const e = m.querySelector(`[data-role="${role}"]`);
        e.textContent = '\u2013';
        e.title = 'unknown while the issuer is unreachable';
      }
    }
  }

  async function pollStatus() {
    const conn = $('#conn');
    try {
      const res = await request('/api/status');
      if (res.status !== 200) throw new Error(`status ${res.status}`);
      state.status = res.body;
      renderStatus(res.body);
      conn.dataset.state = 'live';
      $('#conn-text').textContent = 'live';
      return res.body;
    } catch {
      conn.dataset.state = 'down';
      $('#conn-text').textContent = 'issuer unreachable';
      renderUnknown();
      return null;
    }
  }

  // waitApplied polls the status until every replica has applied the
  // stream up to seq, for at most two seconds, and says how long the
  // revocation took to arrive.
  async function waitApplied(seq) {
    const deadline = performance.now() + 2000;
    for (;;) {
      const st = await pollStatus();
      if (st) {
        const behind = st.replicas.filter((r) => r.last_applied < seq);
        if (behind.length === 0) {
          const lags = st.replicas.map((r) => r.lag_last_ms).filter((v) => v != null);
          const lo = fmtMs(Math.min(...lags));
          const hi = fmtMs(Math.max(...lags));
          const lag = lo === hi ? lo : `${lo} to ${hi}`;
          log('info', `Revocation (stream seq ${seq}) applied on all ${st.replicas.length} replicas \u00b7 propagation ${lag}`);
          return;
        }
        if (performance.now() > deadline) {
          log('warn', `Revocation (stream seq ${seq}) not yet applied on ${behind.map((r) => r.replica).join(', ')}`);
          return;
        }
      }
      await sleep(50);
    }
  }

  // ---- actions ----------------------------------------------------------

  async function login(ev) {
    ev.preventDefault();
    const username = $('#username').value.trim();
    const password = $('#password').value;
    const errBox = $('#login-error');
    errBox.hidden = true;
    await busy($('#login'), async () => {
      const res = await postJSON('/login', { username, password });
      if (res.status !== 200) {
        errBox.textContent = (res.body && res.body.error_description) || `Sign-in failed (${res.status})`;
        errBox.hidden = false;
        log('bad', `Sign-in as ${username || '(empty)'} refused`);
        return;
      }
      setToken(res.body, 'before this sign-in');
      state.spentRefresh = null;
      $('#password').value = '';
      render();
      log('ok', `Signed in as ${state.claims.sub}: new session `, code(short(state.claims.sid, 10)), ', token ', code(short(state.claims.jti, 10)));
      const waited = Number(res.headers.get('X-Issue-Delay-Ms') || 0);
      if (waited > 0) {
        log('info', `The issuer waited ${waited} ms so that this token's whole-second iat is not before the log-out-everywhere cut-off`);
      }
      await callAll();
    });
  }

  async function refresh() {
    await busy($('#refresh'), async () => {
      const old = state.refresh;
      const res = await postJSON('/refresh', { refresh_token: old });
      if (res.status !== 200) {
        state.revoked = (res.body && res.body.error_description) || 'The refresh was refused';
        log('bad', `Refresh refused: ${state.revoked}`);
        return;
      }
      setToken(res.body, 'before the refresh');
      state.spentRefresh = old;
      log('ok', 'Refreshed: new access token ', code(short(state.claims.jti, 10)), ' in the same session; the old refresh token is spent');
      await callAll();
    });
  }

  async function reuse() {
    await busy($('#reuse'), async () => {
      const res = await postJSON('/refresh', { refresh_token: state.spentRefresh });
      if (res.status === 200) {
        log('warn', 'The spent refresh token was accepted');
        return;
      }
      const desc = (res.body && res.body.error_description) || res.status;
      log('bad', `Reused refresh token refused (${res.body && res.body.error}): ${desc}`);
      state.revoked = 'Refresh token reuse detected: the issuer revoked the whole session, so every token of it is refused.';
      state.spentRefresh = null;
      const st = await pollStatus();
      if (st) await waitApplied(st.last_seq);
      await callAll();
    });
  }

  async function logout() {
    await busy($('#logout'), async () => {
      const res = await postJSON('/logout', {}, state.token);
      if (res.status !== 200) {
        log('bad', `Logout failed (${res.status})`);
        return;
      }
      state.revoked = 'Logged out: this token and its session are revoked. Call the replicas to see them refuse it.';
      state.spentRefresh = null;
      log('bad', `Logged out: token `, code(short(res.body.jti, 10)), ' and session ', code(short(res.body.sid, 10)), ` revoked (stream seq ${res.body.seq})`);
      await waitApplied(res.body.seq);
      confirmedLine(await callAll(), res.body);
    });
  }

  async function logoutAll() {
    await busy($('#logout-all'), async () => {
      const res = await postJSON('/logout-all', {}, state.token);
      if (res.status !== 200) {
        log('bad', `Log out everywhere failed (${res.status})`);
        return;
      }
      const cut = new Date(res.body.cutoff);
      state.revoked = `Logged out everywhere: every token of ${res.body.sub} issued before ${clock(cut, true)} is revoked.`;
      state.spentRefresh = null;
      log('bad', `Logged out everywhere: every token of ${res.body.sub} issued before `, code(clock(cut, true)), ` is revoked (stream seq ${res.body.seq})`);
      await waitApplied(res.body.seq);
      confirmedLine(await callAll(), res.body);
    });
  }

  // ---- start ------------------------------------------------------------

  function init() {
    const chips = $('#user-chips');
    for (const u of ['alice', 'bob', 'carol']) {
      const b = el('button', { type: 'button', class: 'chip', title: `Fill in ${u} / ${u}` }, u);
      b.addEventListener('click', () => {
        $('#username').value = u;
        $('#password').value = u;
        $('#login').focus();
      });
      chips.append(b);
    }
    $('#login-form').addEventListener('submit', login);
    $('#call').addEventListener('click', () => busy($('#call'), callAll));
    $('#refresh').addEventListener('click', refresh);
    $('#reuse').addEventListener('click', reuse);
    $('#logout').addEventListener('click', logout);
    $('#logout-all').addEventListener('click', logoutAll);
    render();
    log('info', 'Page loaded. Sign in to get a token.');
    pollStatus();
    setInterval(pollStatus, 1000);
    setInterval(renderExp, 1000);
  }

  init();
})();
