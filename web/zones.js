// The zones of the command map: sealed (red), control (orange) and precaution
// (yellow) zones in view, proposed ones dashed and fainter, reloaded when the map
// moves and when the live feed reports a zone change. A side panel shows the
// selected zone: kind, status, version, who is inside (from /summary) and when it
// may be lifted. Command staff and admin draw sealed zones with Terra Draw and
// redraw a zone's shape; an edit carries the version the user started from, so a
// stale one is refused (409) and the drawn shape is kept for another try.
// window.gridtrace.zones exposes test hooks: {ready, count(), rendered(), ids(),
// version(id), select(id), drawPolygon(coords, reason), edit(id, version,
// geometry, reason), pending()}; drawPolygon and edit answer {status, body}.
import {request} from './api.js';

export const ZONE_WRITERS = ['commander', 'admin'];
const SHOWN_STATUSES = 'proposed,active,downgraded';
const COLOUR = ['match', ['get', 'kind'], 'sealed', '#d7191c', 'control', '#fd8d3c', 'precaution', '#fee01b', '#888'];
const PROPOSED = ['==', ['get', 'status'], 'proposed'];
const RELOAD_DEBOUNCE = 200;

const empty = () => ({type: 'FeatureCollection', features: []});

// startZones adds the zone layers and panel to map; user decides whether drawing
// and editing are offered.
export function startZones(map, user) {
  const view = new ZoneView(map, ZONE_WRITERS.includes(user.role));
  const hooks = {
    count: () => view.features.length,
    rendered: () => new Set(map.queryRenderedFeatures({layers: ['zone-fill']}).map((f) => f.properties.id)).size,
    ids: () => view.features.map((f) => f.properties.id),
    version: (id) => view.byId(id)?.properties.version ?? null,
    select: (id) => view.select(id),
    drawPolygon: (coords, reason = 'drawn in test') => view.finishDrawing({type: 'Polygon', coordinates: coords}, reason),
    edit: (id, version, geometry, reason = 'edited in test') => view.edit(id, version, geometry, reason),
    pending: () => view.pending,
  };
  window.gridtrace = window.gridtrace || {};
  window.gridtrace.zones = hooks;
  hooks.ready = view.start();
  return hooks;
}

class ZoneView {
  constructor(map, writer) {
    this.map = map;
    this.writer = writer;
    this.features = [];
    this.selected = null;  // id of the zone in the panel
    this.summary = null;   // its /summary answer
    this.pending = null;   // {mode: 'create'|'edit', geometry, id, version}: a shape not saved yet
    this.draw = null;      // Terra Draw, loaded on first use
    this.drawing = null;   // {mode, id, version} while Terra Draw is drawing
    this.seq = 0;
    this.timer = null;
  }

  async start() {
    const map = this.map;
    map.addSource('zones', {type: 'geojson', data: empty()});
    map.addLayer({id: 'zone-fill', type: 'fill', source: 'zones',
      paint: {'fill-color': COLOUR, 'fill-opacity': ['case', PROPOSED, 0.12, 0.3]}});
    map.addLayer({id: 'zone-line', type: 'line', source: 'zones', filter: ['!', PROPOSED],
      paint: {'line-color': COLOUR, 'line-width': 2}});
    map.addLayer({id: 'zone-line-proposed', type: 'line', source: 'zones', filter: PROPOSED,
      paint: {'line-color': COLOUR, 'line-width': 2, 'line-opacity': 0.7, 'line-dasharray': [3, 2]}});
    map.on('click', 'zone-fill', (ev) => { if (!this.drawing) this.select(ev.features[0].properties.id); });
    map.on('mouseenter', 'zone-fill', () => { map.getCanvas().style.cursor = 'pointer'; });
    map.on('mouseleave', 'zone-fill', () => { map.getCanvas().style.cursor = ''; });
    map.on('moveend', () => this.reload());
    addEventListener('gridtrace:change', (ev) => {
      const m = ev.detail || {};
      if (m.entity === 'zone' || m.type === 'reset') this.reload();
    });
    this.buildPanel();
    await this.load();
    return true;
  }

  byId(id) {
    return this.features.find((f) => f.properties.id === Number(id));
  }

  reload() {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.load(), RELOAD_DEBOUNCE);
  }

  // load fetches the zones in view; an answer overtaken by a newer request is dropped.
  async load() {
    const b = this.map.getBounds();
    const bbox = [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map((v) => v.toFixed(5)).join(',');
    const mine = ++this.seq;
    try {
      const fc = await request('GET', `/api/v1/zones?bbox=${bbox}&status=${SHOWN_STATUSES}&limit=1000`);
      if (mine !== this.seq) return;
      this.features = fc.features;
      this.map.getSource('zones').setData(fc);
      this.el.count.textContent = `${fc.features.length} in view`;
      if (this.selected !== null) this.select(this.selected);
    } catch (err) {
      if (mine === this.seq) this.el.count.textContent = `zones unavailable: ${err.message}`;
    }
  }

  buildPanel() {
    const panel = document.getElementById('zone-panel');
    panel.hidden = false;
    panel.innerHTML = `<h2>Zones <small id="zone-count"></small></h2>
      <div id="zone-actions"></div>
      <form id="zone-form" hidden>
        <p id="zone-form-title"></p>
        <label>Reason <input id="zone-reason" required autocomplete="off"></label>
        <button id="zone-save" type="submit">Save</button> <button id="zone-cancel" type="button">Cancel</button>
      </form>
      <p id="zone-error" role="alert" hidden></p>
      <div id="zone-detail"></div>`;
    const $ = (id) => document.getElementById(id);
    this.el = {count: $('zone-count'), actions: $('zone-actions'), form: $('zone-form'), title: $('zone-form-title'),
      reason: $('zone-reason'), error: $('zone-error'), detail: $('zone-detail')};
    if (this.writer) {
      const draw = document.createElement('button');
      draw.type = 'button';
      draw.id = 'zone-draw';
      draw.textContent = 'Draw sealed zone';
      draw.addEventListener('click', () => this.startDrawing({mode: 'create'}));
      this.el.actions.append(draw);
    }
    this.el.form.addEventListener('submit', (ev) => { ev.preventDefault(); this.save(); });
    $('zone-cancel').addEventListener('click', () => this.cancel());
  }

  showError(err) {
    const e = this.el.error;
    e.hidden = !err;
    const text = document.createElement('span');
    text.id = 'zone-error-text';
    text.textContent = err ? `${err.message}${err.field ? ` (${err.field})` : ''}` : '';
    e.replaceChildren(text);
  }

  // startDrawing puts Terra Draw in polygon mode; what is finished becomes pending.
  async startDrawing(pending) {
    this.showError(null);
    try {
      await this.terraDraw();
    } catch (err) {
      this.showError({message: `drawing unavailable: ${err.message}`});
      return;
    }
    this.pending = null;
    this.el.form.hidden = true;
    this.draw.clear();
    this.draw.setMode('polygon');
    this.drawing = pending;
    this.el.title.textContent = '';
    this.showHint(true);
  }

  showHint(on) {
    let hint = document.getElementById('zone-hint');
    if (!hint) {
      hint = document.createElement('p');
      hint.id = 'zone-hint';
      hint.textContent = 'Click the corners; click the first one again to finish.';
      this.el.actions.append(hint);
    }
    hint.hidden = !on;
  }

  async terraDraw() {
    if (this.draw) return;
    const [{TerraDraw, TerraDrawPolygonMode}, {TerraDrawMapLibreGLAdapter}] =
      await Promise.all([import('terra-draw'), import('terra-draw-maplibre-gl-adapter')]);
    this.draw = new TerraDraw({adapter: new TerraDrawMapLibreGLAdapter({map: this.map}), modes: [new TerraDrawPolygonMode()]});
    this.draw.start();
    this.draw.on('finish', (id) => {
      const f = this.draw.getSnapshotFeature(id);
      if (f && this.drawing) this.finishDrawing(f.geometry);
    });
  }

  // finishDrawing keeps geometry as the pending shape of the drawing under way (a
  // new sealed zone unless an edit was started) and asks for the reason; with a
  // reason given (the test hook) it saves at once.
  finishDrawing(geometry, reason) {
    const what = this.drawing || {mode: 'create'};
    this.drawing = null;
    this.showHint(false);
    if (this.draw) this.draw.setMode('static');
    this.pending = {...what, geometry};
    this.el.title.textContent = what.mode === 'edit'
      ? `New shape for zone ${what.id} (editing version ${what.version})` : 'New sealed zone';
    this.el.form.hidden = false;
    if (reason === undefined) {
      this.el.reason.focus();
      return null;
    }
    this.el.reason.value = reason;
    return this.save();
  }

  cancel() {
    this.pending = null;
    this.drawing = null;
    this.showHint(false);
    this.el.form.hidden = true;
    this.showError(null);
    if (this.draw) { this.draw.clear(); this.draw.setMode('static'); }
  }

  // save sends the pending shape: POST for a new zone, PUT with the version the
  // edit started from. A refusal leaves the shape pending and says why.
  async save() {
    const p = this.pending;
    if (!p) return {status: 0, body: null};
    const reason = this.el.reason.value.trim();
    const [method, path, body] = p.mode === 'edit'
      ? ['PUT', `/api/v1/zones/${p.id}`, {version: p.version, geometry: p.geometry, reason}]
      : ['POST', '/api/v1/zones', {kind: 'sealed', geometry: p.geometry, reason}];
    this.showError(null);
    try {
      const zone = await request(method, path, body);
      this.cancel();
      this.el.reason.value = '';
      this.selected = zone.properties.id;
      await this.load();
      return {status: method === 'POST' ? 201 : 200, body: zone};
    } catch (err) {
      this.showError(err);
      if (err.status === 409 && p.mode === 'edit') this.offerRebase(p);
      return {status: err.status || 0, body: {error: {code: err.code, message: err.message, field: err.field}}};
    }
  }

  // offerRebase, after a stale edit, lets the user look at the current zone and then
  // apply the same pending shape to its current version (Save again).
  offerRebase(p) {
    const b = document.createElement('button');
    b.type = 'button';
    b.textContent = 'Keep my shape, edit the current version';
    b.addEventListener('click', async () => {
      try {
        const zone = await request('GET', `/api/v1/zones/${p.id}`);
        p.version = zone.properties.version;
        this.el.title.textContent = `New shape for zone ${p.id} (editing version ${p.version})`;
        this.showError(null);
      } catch (err) {
        this.showError(err);
      }
    });
    this.el.error.append(document.createElement('br'), b);
  }

  // edit sends geometry as a new shape of zone id, edited from version.
  edit(id, version, geometry, reason) {
    this.selected = Number(id);
    this.drawing = {mode: 'edit', id: Number(id), version};
    return this.finishDrawing(geometry, reason);
  }

  // select shows zone id in the panel and fetches who is inside.
  async select(id) {
    id = Number(id);
    const changed = id !== this.selected;
    this.selected = id;
    if (changed) this.summary = null;
    this.renderDetail();
    if (!this.byId(id)) return;
    try {
      const sum = await request('GET', `/api/v1/zones/${id}/summary`);
      if (this.selected === id) { this.summary = sum; this.renderDetail(); }
    } catch (err) {
      if (this.selected === id) this.showError(err);
    }
  }

  renderDetail() {
    const d = this.el.detail;
    const f = this.selected === null ? null : this.byId(this.selected);
    d.replaceChildren();
    if (!f) return;
    const p = f.properties;
    const s = this.summary;
    const rows = [
      ['Zone', p.id], ['Kind', p.kind], ['Status', p.status], ['Version', p.version],
      ['Households inside', s ? s.households : '…'], ['Persons inside', s ? s.persons : '…'],
      ['Vulnerable people', s ? s.vulnerable_total : '…'],
    ];
    if (p.days_since_last_case !== undefined) rows.push(['Days since last case', p.days_since_last_case ?? '–']);
    if (p.eligible_to_lift_on) rows.push(['Days to lift', daysUntil(p.eligible_to_lift_on)], ['Eligible to lift on', p.eligible_to_lift_on]);
    const table = document.createElement('table');
    table.id = 'zone-table';
    for (const [k, v] of rows) {
      const tr = table.insertRow();
      tr.dataset.key = k;
      const th = document.createElement('th');
      th.textContent = k;
      tr.append(th);
      tr.insertCell().textContent = String(v);
    }
    d.append(table);
    if (this.writer) {
      const edit = document.createElement('button');
      edit.type = 'button';
      edit.id = 'zone-edit';
      edit.textContent = 'Redraw shape';
      edit.addEventListener('click', () => this.startDrawing({mode: 'edit', id: p.id, version: p.version}));
      d.append(edit);
    }
  }
}

// daysUntil counts whole days from today (local) to an ISO date; 0 when past.
function daysUntil(isoDate) {
  const [y, m, d] = isoDate.split('-').map(Number);
  const today = new Date();
  const start = Date.UTC(today.getFullYear(), today.getMonth(), today.getDate());
  return Math.max(0, Math.round((Date.UTC(y, m - 1, d) - start) / 86400000));
}
