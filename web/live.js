// The live feed: a websocket to /api/v1/live that keeps the map current. Each change
// message is dispatched as a `gridtrace:change` CustomEvent on window (detail: the
// message, see package api/live), and the vector tile source it touches is
// refreshed. The last change id is kept in localStorage, so a reload or a dropped
// connection resumes with ?since= and misses nothing.
import {me} from './api.js';

const LAST_KEY = 'gridtrace.live.last';
const MIN_DELAY = 1000;
const MAX_DELAY = 10000;
// The close code of a feed whose session ended (policy violation).
const SESSION_ENDED = 1008;
// Refreshing a source refetches its visible tiles: a burst of changes costs one.
const REFRESH_DEBOUNCE = 400;

function storedLast() {
  const v = Number(localStorage.getItem(LAST_KEY));
  return Number.isSafeInteger(v) && v > 0 ? v : null;
}

function remember(id) {
  const last = storedLast();
  if (last === null || id > last) localStorage.setItem(LAST_KEY, String(id));
}

// sourceOf names the map source of a change's entity: household(s) → households.
function sourceOf(entity) {
  return `${String(entity).replace(/s$/, '')}s`;
}

// indicator adds the small "live" / "reconnecting…" badge to the status bar.
function indicator() {
  const el = document.createElement('span');
  el.id = 'live-status';
  el.setAttribute('role', 'status');
  (document.getElementById('status') || document.body).append(el);
  const text = {live: 'live', connecting: 'connecting…', reconnecting: 'reconnecting…', degraded: 'database unavailable, retrying…', ended: 'session ended'};
  return (state) => {
    el.dataset.state = state;
    el.textContent = text[state];
    el.title = {
      live: 'Changes appear as they happen',
      degraded: 'The server cannot reach its database: edits are refused (503) until it returns; the map catches up then',
    }[state] || 'The live feed is (re)connecting; nothing is lost meanwhile';
  };
}

// startLive connects the feed to map. onChange(msg) is called after the event for
// each change; onRefresh(source) once per burst of changes to a source (households,
// cases, areas, zones...), e.g. to reload a GeoJSON layer derived from it.
// Returns {state(), last(), close()}.
export function startLive(map, {onChange = () => {}, onRefresh = () => {}} = {}) {
  const show = indicator();
  let ws = null;
  let state = 'connecting';
  let delay = MIN_DELAY;
  let closed = false;
  let subscribed = null; // the padded box last sent as viewport
  const version = {};
  const timers = {};

  // refresh re-sets a vector source's tile URLs with a new version parameter: the
  // browser cache (max-age=30) is bypassed and MapLibre refetches the tiles in view.
  function refresh(source) {
    clearTimeout(timers[source]);
    timers[source] = setTimeout(() => {
      onRefresh(source);
      const spec = map.getStyle().sources[source];
      const src = map.getSource(source);
      if (!spec || spec.type !== 'vector' || !spec.tiles || typeof src?.setTiles !== 'function') return;
      version[source] = (version[source] || 0) + 1;
      const v = `v=${Date.now().toString(36)}.${version[source]}`;
      src.setTiles(spec.tiles.map((u) => {
        const base = u.replace(/[?&]v=[^&]*$/, '');
        return `${base}${base.includes('?') ? '&' : '?'}${v}`;
      }));
    }, REFRESH_DEBOUNCE);
  }

  function refreshAll() {
    for (const id of Object.keys(map.getStyle().sources)) refresh(id);
  }

  // The viewport sent is the view padded by its own size on every side, so a
  // short pan stays inside it; leaving it means changes out there were not sent to
  // us, so the cached tiles are refreshed.
  function sendViewport() {
    if (!ws || ws.readyState !== WebSocket.OPEN) return;
    const b = map.getBounds();
    const w = b.getWest(), s = b.getSouth(), e = b.getEast(), n = b.getNorth();
    const dx = e - w, dy = n - s;
    const box = [Math.max(-180, w - dx), Math.max(-90, s - dy), Math.min(180, e + dx), Math.min(90, n + dy)];
    if (subscribed && !(w >= subscribed[0] && s >= subscribed[1] && e <= subscribed[2] && n <= subscribed[3])) refreshAll();
    subscribed = box;
    ws.send(JSON.stringify({type: 'viewport', bbox: box.map((v) => Number(v.toFixed(6)))}));
  }

  function setState(s) {
    state = s;
    show(s);
  }

  function handle(msg) {
    switch (msg.type) {
      case 'hello':
        if (storedLast() === null) remember(msg.last_id);
        return;
      case 'reset':
        // Too much was missed (or our id belongs to another database): reload views.
        localStorage.setItem(LAST_KEY, String(msg.last_id));
        refreshAll();
        window.dispatchEvent(new CustomEvent('gridtrace:change', {detail: msg}));
        return;
      case 'change':
        remember(msg.id);
        window.dispatchEvent(new CustomEvent('gridtrace:change', {detail: msg}));
        refresh(sourceOf(msg.entity));
        onChange(msg);
        return;
      case 'status':
        // The server lost (or regained) its database: say so rather than look quiet.
        setState(msg.database === 'unavailable' ? 'degraded' : 'live');
        return;
      case 'error':
        console.warn('live feed:', msg.message);
    }
  }

  // sessionEnded stops the feed for good and reloads the app, which finds no
  // session and shows the login.
  function sessionEnded() {
    closed = true;
    map.off('moveend', sendViewport);
    setState('ended');
    location.reload();
  }

  function connect() {
    if (closed) return;
    const last = storedLast();
    const url = new URL('/api/v1/live', location.href);
    url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
    if (last !== null) url.searchParams.set('since', String(last));
    let opened = false;
    ws = new WebSocket(url);
    ws.onopen = () => {
      opened = true;
      delay = MIN_DELAY;
      subscribed = null;
      setState('live');
      sendViewport();
    };
    ws.onmessage = (ev) => {
      try {
        handle(JSON.parse(ev.data));
      } catch (err) {
        console.error('live feed message', err);
      }
    };
    ws.onclose = async (ev) => {
      ws = null;
      if (closed) return;
      // 1008: the server ended the feed because the session ended (logout, revoked,
      // expired, user disabled). Reconnecting would only get 401: go to the login.
      if (ev.code === SESSION_ENDED) return sessionEnded();
      setState('reconnecting');
      if (!opened) {
        // A refused handshake hides its status: ask the API whether the session ended.
        try { await me(); } catch (err) { if (err.status === 401) return sessionEnded(); }
      }
      const wait = delay * (0.8 + 0.4 * Math.random());
      delay = Math.min(MAX_DELAY, delay * 2);
      setTimeout(connect, wait);
    };
  }

  map.on('moveend', sendViewport);
  setState('connecting');
  connect();
  return {
    state: () => state,
    last: storedLast,
    close() {
      closed = true;
      map.off('moveend', sendViewport);
      if (ws) ws.close(1000, 'bye');
    },
  };
}
