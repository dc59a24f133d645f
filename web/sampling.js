// Sampling on the command map (issue 4): the sampling points with their load in the
// current round, and the round's coverage (应检尽检): areas coloured by swabbed /
// expected, and a table of swabbed / expected and missing per area; a click on a row
// frames the area and, for the roles that may read names, lists who is missing.
// Both follow the live feed and nothing polls: a change of entity "sampling" (a
// swab, a stop outcome, a round or its routes) reloads the coverage of its round,
// one of "sampling_point" the points. Command staff and admin start a round for the
// area last clicked on the map and plan its door-to-door routes (depots at the map's
// centre), each team's sampler chosen from the samplers of their jurisdiction
// (GET /users?role=sampler); a plan that leaves households over says how many and
// about how many teams of the shift would take them all.
// window.gridtrace.sampling exposes test hooks: {ready, round(), rows(), cell(areaId),
// points(), loads(), samplers()}; cell answers the "swabbed / expected" text shown
// for an area.
import {request} from './api.js';

// The roles that may read the missing people by name (grid.SamplingNameReaders).
export const NAME_READERS = ['admin', 'commander', 'grid_worker', 'sampler'];
// The roles that start rounds and plan routes (grid.SamplingManagers).
export const MANAGERS = ['admin', 'commander'];
const LEVEL_DEPTH = {district: 0, street: 1, community: 2, grid: 3};
const RELOAD_DEBOUNCE = 250;
// The table shows the least covered areas first, at most this many.
const MAX_ROWS = 200;
// The missing list shows at most this many people.
const MAX_MISSING = 100;
const LEVELS = ['grid', 'community', 'street', 'district'];

const empty = () => ({type: 'FeatureCollection', features: []});

// startSampling adds the sampling points layer, the coverage layer and the panel.
export function startSampling(map, user) {
  const view = new SamplingView(map, user);
  const hooks = {
    round: () => view.round,
    rows: () => view.rows,
    cell: (areaID) => document.querySelector(`#sampling-coverage tr[data-area-id="${Number(areaID)}"] .sampling-cov`)?.textContent ?? null,
    points: () => view.points.length,
    loads: () => Object.fromEntries(view.points.map((p) => [p.id, p.load])),
    samplers: () => view.samplers.map((u) => u.name),
  };
  window.gridtrace = window.gridtrace || {};
  window.gridtrace.sampling = hooks;
  hooks.ready = view.start();
  return hooks;
}

class SamplingView {
  constructor(map, user) {
    this.map = map;
    this.user = user;
    this.rounds = [];
    this.round = null;    // the round shown (an element of rounds)
    this.rows = [];       // its coverage rows at the chosen level
    this.coloured = [];   // area ids with a coverage feature state
    this.points = [];
    this.samplers = [];   // the samplers a team may be given (GET /users?role=sampler)
    this.planNotes = {};  // round id → what the last plan left over, as shown
    this.selected = null; // area id whose missing people are listed
    this.seq = {rounds: 0, coverage: 0, points: 0, missing: 0, teams: 0};
    this.timers = {};
  }

  async start() {
    this.buildPanel();
    this.addLayers();
    this.map.on('moveend', () => this.later('points', () => this.loadPoints()));
    addEventListener('gridtrace:change', (ev) => this.onChange(ev.detail || {}));
    await Promise.all([this.loadRounds(), this.loadPoints()]);
    return true;
  }

  // onChange follows the live feed: what changed decides what is reloaded.
  onChange(m) {
    if (m.type === 'reset') {
      this.later('rounds', () => this.loadRounds());
      this.later('points', () => this.loadPoints());
      return;
    }
    if (m.entity === 'sampling_point') this.later('points', () => this.loadPoints());
    if (m.entity !== 'sampling') return;
    const round = Number(m.payload?.round_id ?? m.entity_id);
    if (m.kind === 'round' || m.kind === 'routes' || !this.rounds.some((r) => r.id === round)) {
      // A round opened or closed (or one we have not seen): the list, the loads and
      // the round's figures change.
      this.later('rounds', () => this.loadRounds());
      this.later('points', () => this.loadPoints());
    } else if (this.round && round === this.round.id) {
      this.later('coverage', () => this.loadCoverage());
    }
  }

  later(what, fn) {
    clearTimeout(this.timers[what]);
    this.timers[what] = setTimeout(fn, RELOAD_DEBOUNCE);
  }

  buildPanel() {
    const panel = document.getElementById('sampling-panel');
    panel.hidden = false;
    panel.innerHTML = `<details id="sampling-details" open>
      <summary><h2>Sampling <small id="sampling-count"></small></h2></summary>
      <label>Round <select id="sampling-round" aria-label="Round"></select></label>
      <label>Level <select id="sampling-level" aria-label="Level">${LEVELS.map((l) => `<option>${l}</option>`).join('')}</select></label>
      <label class="sampling-check"><input type="checkbox" id="sampling-colour" checked> colour the map by coverage</label>
      <details id="sampling-manage" hidden>
        <summary>Start a round, plan routes</summary>
        <p id="sampling-area">Click an area on the map to start a round there.</p>
        <button type="button" id="sampling-start" disabled>Start round here</button>
        <form id="sampling-plan">
          <label>Door-to-door teams <input id="sampling-teams-n" type="number" min="1" max="100" value="2"></label>
          <label>Shift (minutes) <input id="sampling-shift" type="number" min="1" max="1440" value="240"></label>
          <ol id="sampling-team-samplers"></ol>
          <button type="submit" id="sampling-plan-go">Plan routes (depots at the map centre)</button>
        </form>
        <p id="sampling-plan-result" role="status"></p>
      </details>
      <p id="sampling-summary"></p>
      <div id="sampling-teams"></div>
      <p id="sampling-error" role="alert" hidden></p>
      <p id="sampling-total" role="status"></p>
      <table id="sampling-coverage">
        <thead><tr><th>Area</th><th title="swabbed / expected persons">Swabbed</th><th>Missing</th></tr></thead>
        <tbody></tbody>
      </table>
      <p id="sampling-more" hidden></p>
      <div id="sampling-missing"></div>
      <div id="sampling-point"></div>
    </details>`;
    const $ = (id) => document.getElementById(id);
    this.el = {count: $('sampling-count'), round: $('sampling-round'), level: $('sampling-level'), colour: $('sampling-colour'),
      summary: $('sampling-summary'), teams: $('sampling-teams'), error: $('sampling-error'), total: $('sampling-total'),
      body: document.querySelector('#sampling-coverage tbody'), more: $('sampling-more'), missing: $('sampling-missing'),
      point: $('sampling-point')};
    this.el.round.addEventListener('change', () => {
      this.round = this.rounds.find((r) => r.id === Number(this.el.round.value)) || null;
      this.selected = null;
      this.renderSummary();
      this.loadCoverage();
    });
    this.el.level.addEventListener('change', () => { this.selected = null; this.loadCoverage(); });
    this.el.colour.addEventListener('change', () => {
      this.map.setLayoutProperty('sampling-coverage', 'visibility', this.el.colour.checked ? 'visible' : 'none');
    });
    if (MANAGERS.includes(this.user.role)) this.buildManage();
    this.el.body.addEventListener('click', (ev) => {
      const tr = ev.target.closest('tr[data-area-id]');
      if (tr) this.selectArea(Number(tr.dataset.areaId));
    });
  }

  // buildManage offers command staff a round for the area last clicked and a plan
  // of door-to-door routes for the round shown.
  buildManage() {
    const $ = (id) => document.getElementById(id);
    $('sampling-manage').hidden = false;
    this.area = null;
    this.map.on('click', (ev) => {
      const hits = this.map.queryRenderedFeatures(ev.point, {layers: ['area-hit']});
      const f = hits.sort((a, b) => LEVEL_DEPTH[b.properties.level] - LEVEL_DEPTH[a.properties.level])[0];
      if (!f) return;
      this.area = {id: Number(f.properties.id), name: f.properties.name, level: f.properties.level};
      $('sampling-area').textContent = `Area: ${this.area.name} (${this.area.level} ${this.area.id})`;
      $('sampling-start').disabled = false;
    });
    $('sampling-start').addEventListener('click', async () => {
      if (!this.area) return;
      const day = new Date(Date.now() + 86400000).toISOString().slice(0, 10);
      this.showError(null);
      try {
        const r = await request('POST', '/api/v1/sampling/rounds', {name: `${this.area.name} 全员核酸`, area_id: this.area.id,
          date: day, start: '07:00', slot_minutes: 30, walk_limit_minutes: 15, walk_kmh: 4});
        this.round = r;
        await this.loadRounds();
      } catch (err) {
        this.showError(err);
      }
    });
    $('sampling-teams-n').addEventListener('input', () => this.renderTeamRows());
    this.renderTeamRows();
    this.loadSamplers();
    $('sampling-plan').addEventListener('submit', async (ev) => {
      ev.preventDefault();
      if (!this.round) return;
      const round = this.round;
      const shift = Math.max(1, Math.min(1440, Math.round(Number($('sampling-shift').value) || 240)));
      const c = this.map.getCenter();
      const users = [...document.querySelectorAll('#sampling-team-samplers select')].map((s) => Number(s.value) || undefined);
      const twice = users.find((u, i) => u && users.indexOf(u) !== i);
      if (twice) {
        this.showError({message: `${this.samplerName(twice)} is chosen for two teams; a sampler follows one route`});
        return;
      }
      const teams = users.map((user, i) => ({name: `Team ${i + 1}`, user_id: user,
        depot: {lng: Number(c.lng.toFixed(6)), lat: Number(c.lat.toFixed(6))}, shift_minutes: shift}));
      this.showError(null);
      $('sampling-plan-result').textContent = 'Planning…';
      try {
        const plan = await request('POST', `/api/v1/sampling/rounds/${round.id}/routes`, {teams, seed: 1});
        this.planNotes[round.id] = planNote(plan);
        $('sampling-plan-result').textContent = this.planNotes[round.id];
        await this.loadTeams();
      } catch (err) {
        $('sampling-plan-result').textContent = '';
        this.showError(err);
      }
    });
  }

  // loadSamplers fetches the samplers inside the jurisdiction (disabled ones cannot
  // log in to follow a route, so they are left out) for the team selects.
  async loadSamplers() {
    try {
      const {users} = await request('GET', '/api/v1/users?role=sampler');
      this.samplers = users.filter((u) => !u.disabled);
    } catch (err) {
      this.samplers = [];
      this.showError({message: `samplers unavailable: ${err.message}`});
    }
    this.renderTeamRows();
  }

  samplerName(id) {
    return this.samplers.find((u) => u.id === id)?.name ?? `user ${id}`;
  }

  // renderTeamRows keeps one sampler select per team, each keeping its choice.
  renderTeamRows() {
    const list = document.getElementById('sampling-team-samplers');
    const n = Math.max(1, Math.min(100, Number(document.getElementById('sampling-teams-n').value) || 1));
    const chosen = [...list.querySelectorAll('select')].map((s) => s.value);
    const rows = Array.from({length: n}, (_, i) => {
      const li = document.createElement('li');
      const label = document.createElement('label');
      const sel = document.createElement('select');
      sel.id = `sampling-team-user-${i + 1}`;
      sel.setAttribute('aria-label', `Team ${i + 1} sampler`);
      const none = document.createElement('option');
      none.value = '';
      none.textContent = 'no sampler';
      sel.append(none, ...this.samplers.map((u) => {
        const o = document.createElement('option');
        o.value = String(u.id);
        o.textContent = u.name;
        return o;
      }));
      if (chosen[i] && this.samplers.some((u) => String(u.id) === chosen[i])) sel.value = chosen[i];
      label.append(`Team ${i + 1}`, sel);
      li.append(label);
      return li;
    });
    list.replaceChildren(...rows);
  }

  addLayers() {
    const map = this.map;
    // Coverage colours the areas' own tiles through feature state (map.js promotes
    // their id), under the outlines so the grid lines stay visible.
    map.addLayer({id: 'sampling-coverage', type: 'fill', source: 'areas', 'source-layer': 'areas', paint: {
      'fill-color': ['interpolate', ['linear'], ['number', ['feature-state', 'coverage'], 0],
        0, '#d7301f', 0.5, '#fdae61', 0.9, '#d9ef8b', 1, '#1a9850'],
      'fill-opacity': ['case', ['boolean', ['feature-state', 'shown'], false], 0.45, 0],
    }}, 'grids');
    map.addSource('sampling-points', {type: 'geojson', data: empty()});
    // Points without a round (grey) stay small until the view is a few streets
    // across: a city has thousands of them.
    const loaded = ['>=', ['get', 'ratio'], 0];
    map.addLayer({id: 'sampling-points', type: 'circle', source: 'sampling-points', paint: {
      'circle-radius': ['interpolate', ['linear'], ['zoom'], 9, ['case', loaded, 4, 1.5], 14, ['case', loaded, 9, 6], 17, ['case', loaded, 12, 9]],
      'circle-stroke-width': ['interpolate', ['linear'], ['zoom'], 9, ['case', loaded, 1, 0], 14, 2],
      'circle-color': ['case', ['<', ['get', 'ratio'], 0], '#969696',
        ['<', ['get', 'ratio'], 0.8], '#1a9850', ['<=', ['get', 'ratio'], 1], '#fdae61', '#d7301f'],
      'circle-stroke-color': '#08306b',
    }});
    map.on('click', 'sampling-points', (ev) => this.showPoint(ev.features[0].properties.id));
    map.on('mouseenter', 'sampling-points', () => { map.getCanvas().style.cursor = 'pointer'; });
    map.on('mouseleave', 'sampling-points', () => { map.getCanvas().style.cursor = ''; });
  }

  showError(err) {
    this.el.error.hidden = !err;
    this.el.error.textContent = err ? `${err.message}${err.field ? ` (${err.field})` : ''}` : '';
  }

  // loadRounds fetches the rounds and keeps the one shown, or shows the newest open
  // round (else the newest).
  async loadRounds() {
    const mine = ++this.seq.rounds;
    try {
      const {rounds} = await request('GET', '/api/v1/sampling/rounds');
      if (mine !== this.seq.rounds) return;
      this.rounds = rounds;
      const keep = this.round && rounds.find((r) => r.id === this.round.id);
      this.round = keep || rounds.find((r) => r.status === 'open') || rounds[0] || null;
      this.el.round.replaceChildren(...rounds.map((r) => {
        const o = document.createElement('option');
        o.value = String(r.id);
        o.textContent = `${r.name || `Round ${r.id}`} · ${r.date}${r.status === 'open' ? '' : ' (closed)'}`;
        return o;
      }));
      if (this.round) this.el.round.value = String(this.round.id);
      this.el.count.textContent = rounds.length ? `${rounds.filter((r) => r.status === 'open').length} open` : 'no round';
      this.renderSummary();
      await this.loadCoverage();
    } catch (err) {
      if (mine === this.seq.rounds) this.showError(err);
    }
  }

  renderSummary() {
    const r = this.round;
    if (!r) {
      this.el.summary.textContent = 'No sampling round in your jurisdiction.';
      return;
    }
    const parts = [`${r.households} households, ${r.persons} persons`, `${r.door_to_door_households} door to door`];
    if (r.walk_m) parts.push(`walk median ${Math.round(r.walk_m.median)} m, p95 ${Math.round(r.walk_m.p95)} m`);
    if (r.overloaded_points?.length) parts.push(`${r.overloaded_points.length} overloaded slots`);
    if (r.far_households) parts.push(`${r.far_households} beyond the walking limit`);
    this.el.summary.textContent = parts.join(' · ');
  }

  // loadCoverage fetches the shown round's coverage at the chosen level, fills the
  // table and colours the areas; an answer overtaken by a newer request is dropped.
  async loadCoverage() {
    const mine = ++this.seq.coverage;
    const r = this.round;
    this.loadTeams();
    if (!r) {
      this.setRows([]);
      return;
    }
    try {
      const {rows} = await request('GET', `/api/v1/sampling/rounds/${r.id}/coverage?level=${this.el.level.value}`);
      if (mine !== this.seq.coverage) return;
      this.showError(null);
      this.setRows(rows);
      if (this.selected !== null) this.loadMissing(this.selected);
    } catch (err) {
      if (mine === this.seq.coverage) this.showError(err);
    }
  }

  // loadTeams lists the round's door-to-door teams with their progress, each
  // linked to its list in the sampler's view (to follow or print).
  async loadTeams() {
    const mine = ++this.seq.teams;
    const r = this.round;
    if (!r || !r.door_to_door_households) {
      this.el.teams.replaceChildren();
      return;
    }
    try {
      const {teams, unassigned} = await request('GET', `/api/v1/sampling/rounds/${r.id}/routes`);
      if (mine !== this.seq.teams) return;
      const result = document.getElementById('sampling-plan-result');
      if (result) result.textContent = teams.length ? (this.planNotes[r.id] ?? '') : '';
      if (!teams.length) {
        this.el.teams.textContent = 'No door-to-door routes planned yet.';
        return;
      }
      const h = document.createElement('h3');
      h.textContent = 'Door-to-door teams';
      const list = document.createElement('ul');
      list.id = 'sampling-team-list';
      for (const t of teams) {
        const li = document.createElement('li');
        const a = document.createElement('a');
        a.href = `#team/${r.id}/${t.team_index}`;
        a.textContent = t.team;
        const visited = t.stops.filter((s) => s.outcome).length;
        li.append(a, `${t.user_id ? ` (${this.samplerName(t.user_id)})` : ''} ${visited} / ${t.stops.length} stops visited`);
        list.append(li);
      }
      const parts = [h, list];
      if (unassigned.length) {
        const p = document.createElement('p');
        p.id = 'sampling-unassigned';
        p.textContent = `${unassigned.length} households on no team's route`;
        parts.push(p);
      }
      this.el.teams.replaceChildren(...parts);
    } catch (err) {
      if (mine === this.seq.teams) this.el.teams.textContent = `routes unavailable: ${err.message}`;
    }
  }

  setRows(rows) {
    this.rows = rows;
    this.colour(rows);
    const ratio = (x) => (x.expected ? x.swabbed / x.expected : 1);
    const shown = [...rows].sort((a, b) => ratio(a) - ratio(b) || b.missing - a.missing || a.area_id - b.area_id).slice(0, MAX_ROWS);
    const trs = shown.map((x) => {
      const tr = document.createElement('tr');
      tr.dataset.areaId = String(x.area_id);
      tr.title = 'Show this area and who is missing';
      if (x.area_id === this.selected) tr.classList.add('selected');
      if (x.missing === 0) tr.classList.add('complete');
      const name = tr.insertCell();
      name.textContent = rowName(x, this.el.level.value);
      if (x.direct) tr.classList.add('direct');
      const cov = tr.insertCell();
      cov.className = 'sampling-cov';
      cov.textContent = `${x.swabbed} / ${x.expected}`;
      const miss = tr.insertCell();
      miss.className = 'sampling-missing-count';
      miss.textContent = String(x.missing);
      return tr;
    });
    this.el.body.replaceChildren(...trs);
    this.el.more.hidden = rows.length <= MAX_ROWS;
    this.el.more.textContent = `… and ${rows.length - MAX_ROWS} more areas, better covered`;
    const sum = (k) => rows.reduce((s, x) => s + x[k], 0);
    const expected = sum('expected');
    this.el.total.textContent = this.round
      ? `Swabbed ${sum('swabbed')} / ${expected} expected (${expected ? Math.floor(100 * sum('swabbed') / expected) : 100}%), ${sum('missing')} missing`
      : '';
  }

  // colour sets each area's coverage as feature state and clears what is gone.
  colour(rows) {
    const target = (id) => ({source: 'areas', sourceLayer: 'areas', id});
    // A direct row (a street's households in no community) counts part of its
    // area: colouring the whole street by it would say something false.
    const shown = rows.filter((x) => !x.direct);
    const now = new Set(shown.map((x) => x.area_id));
    for (const id of this.coloured) if (!now.has(id)) this.map.removeFeatureState(target(id));
    for (const x of shown) this.map.setFeatureState(target(x.area_id), {shown: true, coverage: x.expected ? x.swabbed / x.expected : 1});
    this.coloured = [...now];
  }

  // selectArea frames an area of the table and lists who is missing there.
  async selectArea(id) {
    this.selected = id;
    for (const tr of this.el.body.rows) tr.classList.toggle('selected', Number(tr.dataset.areaId) === id);
    this.loadMissing(id);
    try {
      const f = await request('GET', `/api/v1/areas/${id}`);
      const b = bounds(f.geometry.coordinates);
      if (b) this.map.fitBounds(b, {padding: 60, maxZoom: 16});
    } catch { /* the area stays where it is */ }
  }

  async loadMissing(id) {
    const box = this.el.missing;
    const row = this.rows.find((x) => x.area_id === id);
    if (!NAME_READERS.includes(this.user.role) || !this.round || !row) {
      box.replaceChildren();
      return;
    }
    const mine = ++this.seq.missing;
    try {
      let {persons} = await request('GET', `/api/v1/sampling/rounds/${this.round.id}/missing?area_id=${id}`);
      if (mine !== this.seq.missing) return;
      // A direct row holds only the households attached to the area itself.
      if (row.direct) persons = persons.filter((p) => p.grid_id === id);
      const h = document.createElement('h3');
      h.textContent = `Missing in ${rowName(row, this.el.level.value)}: ${persons.length}`;
      const list = document.createElement('ul');
      list.id = 'sampling-missing-list';
      for (const p of persons.slice(0, MAX_MISSING)) {
        const li = document.createElement('li');
        li.textContent = `${p.name} ${p.phone || ''} · ${p.address}${p.outcome ? ` · ${p.outcome.replace('_', ' ')}` : ''}`;
        list.append(li);
      }
      if (persons.length > MAX_MISSING) {
        const li = document.createElement('li');
        li.textContent = `… and ${persons.length - MAX_MISSING} more`;
        list.append(li);
      }
      box.replaceChildren(h, list);
    } catch (err) {
      if (mine === this.seq.missing) box.textContent = `missing list unavailable: ${err.message}`;
    }
  }

  // loadPoints fetches the sampling points in view with their load.
  async loadPoints() {
    const b = this.map.getBounds();
    const bbox = [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map((v) => v.toFixed(5)).join(',');
    const mine = ++this.seq.points;
    try {
      const {points} = await request('GET', `/api/v1/sampling/points?bbox=${bbox}`);
      if (mine !== this.seq.points) return;
      this.points = points;
      this.map.getSource('sampling-points').setData({type: 'FeatureCollection', features: points.map((p) => ({
        type: 'Feature', geometry: {type: 'Point', coordinates: [p.lng, p.lat]},
        properties: {id: p.id, ratio: p.load && p.load.capacity ? p.load.assigned / p.load.capacity : -1},
      }))});
      if (this.pointShown) this.showPoint(this.pointShown);
    } catch (err) {
      if (mine === this.seq.points) this.showError(err);
    }
  }

  showPoint(id) {
    this.pointShown = Number(id);
    const p = this.points.find((x) => x.id === Number(id));
    const box = this.el.point;
    box.replaceChildren();
    if (!p) return;
    const h = document.createElement('h3');
    h.textContent = `Point: ${p.name}`;
    const t = document.createElement('p');
    t.id = 'sampling-point-load';
    const load = p.load ? `${p.load.assigned} / ${p.load.capacity} persons in round ${p.load.round_id}` : 'no open round';
    t.textContent = `${p.capacity_per_hour} swabs an hour, ${p.opens}–${p.closes}; ${load}`;
    box.append(h, t);
  }
}

// rowName names a coverage row; a direct row counts the households of a coarser
// area that lie in no area of the level shown ("甲街道 · no community").
export function rowName(x, level) {
  return x.direct ? `${x.name} · no ${level}` : x.name;
}

// planNote says what a plan left over: the households no team could take and about
// how many teams of the shift would take them all (the server's estimate, see
// grid/sampling.TeamEstimate), and those out of reach of the depots within a shift.
export function planNote(plan) {
  const n = plan.unassigned_count ?? plan.unassigned.length;
  if (!n) return 'Every door-to-door household is on a route.';
  const e = plan.estimate;
  if (!e) return `${n} households not covered.`;
  const reachable = e.unassigned - e.unreachable;
  const parts = [];
  if (reachable > 0) {
    parts.push(`${n} households not covered: about ${e.teams_needed} teams of ${e.shift_minutes} minutes needed` +
      `${e.verified ? '' : ' (not verified)'} (${e.teams_planned} planned).`);
  } else {
    parts.push(`${n} households not covered.`);
  }
  if (e.unreachable) parts.push(`${e.unreachable} of them are out of reach of the depot within a shift: plan a nearer depot or a longer shift.`);
  return parts.join(' ');
}

// bounds answers [[w, s], [e, n]] of a GeoJSON coordinate array, or null.
function bounds(coords) {
  const b = [Infinity, Infinity, -Infinity, -Infinity];
  const walk = (c) => {
    if (typeof c[0] === 'number') {
      b[0] = Math.min(b[0], c[0]); b[1] = Math.min(b[1], c[1]);
      b[2] = Math.max(b[2], c[0]); b[3] = Math.max(b[3], c[1]);
    } else for (const x of c) walk(x);
  };
  walk(coords);
  return Number.isFinite(b[0]) ? [[b[0], b[1]], [b[2], b[3]]] : null;
}
