// The sampler's view (#sampler; samplers land on it): their door-to-door list in
// order from /api/v1/sampling/my-route with address, ETA and outcome, the map with
// the route line and numbered stops, and "done / nobody home / refused" per stop.
// The next stop (the first without an outcome) is highlighted in the list and on the
// map. Made for a phone (375 px and up); sampler.css prints the list cleanly. The
// live feed reloads the list when the round changes (another device of the team, a
// new plan, the round closed). #team/<round>/<team index> shows any team's list the
// same way (command staff follow or print a team's list from the command map).
// window.gridtrace.sampler exposes test hooks: {ready, route(), next(), mark(householdID, outcome)}.
import * as maplibregl from './vendor/maplibre-gl.mjs';
import {logout, request} from './api.js';
import {createMap} from './map.js';
import {startLive} from './live.js';

export const OUTCOMES = [
  {id: 'done', label: 'Done'},
  {id: 'nobody_home', label: 'Nobody home'},
  {id: 'refused', label: 'Refused'},
];
const OUTCOME_TEXT = {done: 'done', nobody_home: 'nobody home', refused: 'refused', '': 'to visit'};
const RELOAD_DEBOUNCE = 300;
// ETAs are on the clock of the place sampled (the server plans rounds in UTC+8).
const clock = new Intl.DateTimeFormat('en-GB', {timeZone: 'Asia/Shanghai', hour: '2-digit', minute: '2-digit'});

const empty = () => ({type: 'FeatureCollection', features: []});

// startSampler shows the sampler's view instead of the command map: the caller's own
// route, or team {round, team} of a round's plan.
export function startSampler(user, team = null) {
  const view = new SamplerView(user, team);
  const hooks = {
    route: () => view.route,
    next: () => view.next()?.household_id ?? null,
    mark: (householdID, outcome) => view.mark(Number(householdID), outcome),
  };
  window.gridtrace = window.gridtrace || {};
  window.gridtrace.sampler = hooks;
  hooks.ready = view.start();
  return hooks;
}

class SamplerView {
  constructor(user, team) {
    this.user = user;
    this.team = team;    // {round, team} of a round's plan; null: the caller's route
    this.route = null;   // the my-route answer, null when there is none
    this.map = null;
    this.markers = [];
    this.busy = new Set(); // household ids with an outcome on its way
    this.seq = 0;
    this.timer = null;
    this.fitted = false;
  }

  async start() {
    this.build();
    const [map] = await Promise.all([createMap(this.el.map), this.load()]);
    this.map = map;
    map.addSource('my-route', {type: 'geojson', data: empty()});
    map.addLayer({id: 'my-route', type: 'line', source: 'my-route', filter: ['==', ['geometry-type'], 'LineString'],
      layout: {'line-cap': 'round', 'line-join': 'round'}, paint: {'line-color': '#2171b5', 'line-width': 4, 'line-opacity': 0.8}});
    map.addLayer({id: 'my-depot', type: 'circle', source: 'my-route', filter: ['==', ['geometry-type'], 'Point'],
      paint: {'circle-radius': 7, 'circle-color': '#fff', 'circle-stroke-color': '#2171b5', 'circle-stroke-width': 3}});
    this.drawMap();
    const live = startLive(map);
    // live.js puts its badge in the command map's status bar; ours is the header.
    const badge = document.getElementById('live-status');
    if (badge) this.el.tools.prepend(badge);
    addEventListener('gridtrace:change', (ev) => {
      const m = ev.detail || {};
      const round = Number(m.payload?.round_id ?? m.entity_id);
      if (m.type === 'reset' || (m.entity === 'sampling' && (!this.route || round === this.route.round_id))) {
        clearTimeout(this.timer);
        this.timer = setTimeout(() => this.load().then(() => this.drawMap()), RELOAD_DEBOUNCE);
      }
    });
    window.gridtrace.map = map;
    window.gridtrace.live = live;
    return true;
  }

  build() {
    const root = document.getElementById('sampler-view');
    root.hidden = false;
    document.body.classList.add('sampler');
    root.innerHTML = `<header id="sampler-head">
        <h1 id="sampler-title">My route</h1>
        <p id="sampler-sub"></p>
        <p id="sampler-progress" role="status"></p>
        <p id="sampler-next"></p>
        <div id="sampler-tools">
          <button type="button" id="sampler-print">Print list</button>
          <a href="#map" id="sampler-map-link">Command map</a>
          <button type="button" id="sampler-logout">Log out</button>
        </div>
      </header>
      <p id="sampler-error" role="alert" hidden></p>
      <div id="sampler-map"></div>
      <ol id="sampler-stops"></ol>
      <p id="sampler-empty" hidden></p>`;
    const $ = (id) => document.getElementById(id);
    this.el = {title: $('sampler-title'), sub: $('sampler-sub'), progress: $('sampler-progress'), next: $('sampler-next'),
      tools: $('sampler-tools'), error: $('sampler-error'), map: $('sampler-map'), stops: $('sampler-stops'), empty: $('sampler-empty')};
    $('sampler-print').addEventListener('click', () => print());
    $('sampler-logout').addEventListener('click', async () => {
      try { await logout(); } finally { location.reload(); }
    });
    this.el.stops.addEventListener('click', (ev) => {
      const li = ev.target.closest('li[data-household-id]');
      if (!li) return;
      const id = Number(li.dataset.householdId);
      const b = ev.target.closest('button[data-outcome]');
      if (b) this.mark(id, b.dataset.outcome);
      else this.focus(id);
    });
  }

  showError(err) {
    this.el.error.hidden = !err;
    this.el.error.textContent = err ? `${err.message}${err.field ? ` (${err.field})` : ''}` : '';
  }

  // fetchRoute answers the route shown: the caller's (404 when none) or the team's.
  async fetchRoute() {
    if (!this.team) return request('GET', '/api/v1/sampling/my-route');
    const {round, team} = this.team;
    const plan = await request('GET', `/api/v1/sampling/rounds/${round}/routes`);
    const t = plan.teams.find((x) => x.team_index === team);
    if (!t) throw Object.assign(new Error(`round ${round} has no team ${team}`), {status: 404});
    return {...t, round_id: round};
  }

  // load fetches the route; a 404 means no route in an open round.
  async load() {
    const mine = ++this.seq;
    try {
      const route = await this.fetchRoute();
      if (mine !== this.seq) return;
      this.route = route;
      this.showError(null);
    } catch (err) {
      if (mine !== this.seq) return;
      if (err.status === 404) this.route = null;
      else this.showError(err);
    }
    this.render();
  }

  next() {
    return this.route?.stops.find((s) => !s.outcome) || null;
  }

  render() {
    const r = this.route;
    this.el.empty.hidden = !!r;
    this.el.empty.textContent = r ? '' : this.team ? `No such team in round ${this.team.round}.`
      : `No door-to-door route for ${this.user.name} in an open round.`;
    if (!r) {
      this.el.title.textContent = 'My route';
      this.el.sub.textContent = this.el.progress.textContent = this.el.next.textContent = '';
      this.el.stops.replaceChildren();
      return;
    }
    const stops = r.stops;
    const day = stops[0] ? new Date(stops[0].eta).toLocaleDateString('en-CA', {timeZone: 'Asia/Shanghai'}) : '';
    this.el.title.textContent = `${r.team} · round ${r.round_id}`;
    this.el.sub.textContent = `${this.team ? 'team list' : this.user.name}${day ? ` · ${day}` : ''} · ${stops.length} stops, ${(r.walk_m / 1000).toFixed(1)} km, about ${Math.round(r.minutes)} min`;
    const done = stops.filter((s) => s.outcome).length;
    this.el.progress.textContent = `${done} of ${stops.length} visited`;
    const next = this.next();
    this.el.next.textContent = next ? `Next: ${next.seq}. ${next.address} (ETA ${clock.format(new Date(next.eta))})` : 'All stops visited.';
    this.el.stops.replaceChildren(...stops.map((s) => this.stopItem(s, s === next)));
  }

  stopItem(s, isNext) {
    const li = document.createElement('li');
    li.id = `stop-${s.household_id}`;
    li.dataset.householdId = String(s.household_id);
    li.dataset.outcome = s.outcome || '';
    if (isNext) li.classList.add('next');
    const seq = document.createElement('span');
    seq.className = 'sampler-seq';
    seq.textContent = String(s.seq);
    const body = document.createElement('div');
    body.className = 'sampler-body';
    const addr = document.createElement('div');
    addr.className = 'sampler-address';
    addr.textContent = s.address;
    const meta = document.createElement('div');
    meta.className = 'sampler-meta';
    meta.append(`ETA ${clock.format(new Date(s.eta))} · `);
    const outcome = document.createElement('span');
    outcome.className = 'sampler-outcome';
    outcome.textContent = OUTCOME_TEXT[s.outcome || ''];
    meta.append(outcome);
    const actions = document.createElement('div');
    actions.className = 'sampler-actions';
    for (const o of OUTCOMES) {
      const b = document.createElement('button');
      b.type = 'button';
      b.dataset.outcome = o.id;
      b.textContent = o.label;
      b.setAttribute('aria-pressed', String(s.outcome === o.id));
      b.disabled = this.busy.has(s.household_id);
      actions.append(b);
    }
    // On paper the buttons become boxes to tick.
    const paper = document.createElement('div');
    paper.className = 'sampler-paper';
    paper.textContent = OUTCOMES.map((o) => `☐ ${o.label.toLowerCase()}`).join('   ');
    body.append(addr, meta, actions, paper);
    li.append(seq, body);
    return li;
  }

  // mark records an outcome at a stop and answers {status, body} like the API.
  async mark(id, outcome) {
    const stop = this.route?.stops.find((s) => s.household_id === id);
    if (!stop || this.busy.has(id)) return {status: 0, body: null};
    this.busy.add(id);
    this.render();
    try {
      const res = await request('POST', `/api/v1/sampling/rounds/${this.route.round_id}/stops/${id}`, {outcome});
      stop.outcome = res.outcome;
      this.showError(null);
      return {status: 200, body: res};
    } catch (err) {
      this.showError(err);
      return {status: err.status || 0, body: {error: {message: err.message, field: err.field}}};
    } finally {
      this.busy.delete(id);
      this.render();
      this.drawMap();
    }
  }

  // drawMap draws the route line, the depot and a numbered marker per stop, and
  // frames the route the first time.
  drawMap() {
    const map = this.map;
    if (!map) return;
    for (const m of this.markers) m.remove();
    this.markers = [];
    const r = this.route;
    const fc = empty();
    if (r?.route) fc.features.push({type: 'Feature', geometry: r.route, properties: {}});
    if (r?.depot) fc.features.push({type: 'Feature', geometry: {type: 'Point', coordinates: [r.depot.lng, r.depot.lat]}, properties: {}});
    map.getSource('my-route').setData(fc);
    if (!r) return;
    const next = this.next();
    for (const s of r.stops) {
      const el = document.createElement('div');
      el.className = `sampler-marker${s === next ? ' next' : ''}${s.outcome ? ` ${s.outcome}` : ''}`;
      el.dataset.householdId = String(s.household_id);
      el.textContent = String(s.seq);
      el.title = `${s.seq}. ${s.address}`;
      el.addEventListener('click', () => this.focus(s.household_id, false));
      this.markers.push(new maplibregl.Marker({element: el}).setLngLat([s.lng, s.lat]).addTo(map));
    }
    if (!this.fitted && r.stops.length) {
      this.fitted = true;
      const pts = r.stops.map((s) => [s.lng, s.lat]);
      if (r.depot) pts.push([r.depot.lng, r.depot.lat]);
      const b = pts.reduce((acc, p) => acc.extend(p), new maplibregl.LngLatBounds(pts[0], pts[0]));
      map.fitBounds(b, {padding: 40, maxZoom: 17, duration: 0});
    }
  }

  // focus shows a stop: on the map from the list, in the list from the map.
  focus(id, onMap = true) {
    const s = this.route?.stops.find((x) => x.household_id === id);
    if (!s) return;
    if (onMap && this.map) this.map.easeTo({center: [s.lng, s.lat], zoom: Math.max(this.map.getZoom(), 16)});
    if (!onMap) document.getElementById(`stop-${id}`)?.scrollIntoView({block: 'center', behavior: 'smooth'});
  }
}
