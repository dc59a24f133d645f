// The flow-tracing view: pick a case, see its trajectory with a time slider, its
// stays as numbered stops (the exposure places), and its contacts ranked by exposed
// minutes and closeness, their trajectories overlaid near the encounters; a click on
// a contact zooms to its closest encounter. Tracing staff, command staff and admin
// only (the API refuses the others).
// window.gridtrace.trace exposes test hooks: {ready, subjects, run, open(caseId,
// opts), selectContact(rank), setTime(ms), rendered(), boundsContain(lng, lat)}.
import * as maplibregl from './vendor/maplibre-gl.mjs';
import {request} from './api.js';

export const TRACE_ROLES = ['tracer', 'commander', 'admin'];

// A gap longer than this between two pings breaks the drawn line: the phone was off
// or the person went underground, and a straight line would invent a path.
const GAP_MS = 10 * 60 * 1000;
// Contact trajectories are drawn this long before and after each encounter.
const OVERLAY_MS = 10 * 60 * 1000;
// At most this many contacts get their trajectory fetched and overlaid.
const MAX_OVERLAYS = 20;

const COLOURS = {track: '#cb181d', contact: '#2171b5', contact2: '#807dba', stay: '#fff', encounter: '#fd8d3c'};

const LAYERS = ['trace-track', 'trace-contacts', 'trace-stays', 'trace-encounters', 'trace-position'];

const empty = () => ({type: 'FeatureCollection', features: []});

// startTrace adds the tracing panel and layers for users whose role may trace.
export function startTrace(map, user) {
  const hooks = {ready: null, subjects: [], run: null};
  window.gridtrace = window.gridtrace || {};
  window.gridtrace.trace = hooks;
  if (!TRACE_ROLES.includes(user.role)) {
    hooks.ready = Promise.resolve(false);
    return hooks;
  }
  const view = new TraceView(map, hooks);
  hooks.open = (caseId, opts) => view.open(caseId, opts);
  hooks.selectContact = (rank) => view.selectContact(rank);
  hooks.setTime = (ms) => view.setTime(ms);
  hooks.rendered = () => view.rendered();
  hooks.boundsContain = (lng, lat) => map.getBounds().contains([lng, lat]);
  hooks.ready = view.start();
  return hooks;
}

class TraceView {
  constructor(map, hooks) {
    this.map = map;
    this.hooks = hooks;
    this.track = [];       // the case's pings: [{t, p: [lng, lat]}]
    this.overlays = [];    // contact pieces: [{rank, degree, pings}]
    this.markers = [];
    this.until = Infinity; // the slider's time
  }

  async start() {
    this.buildPanel();
    this.addLayers();
    await this.loadSubjects();
    return true;
  }

  buildPanel() {
    const panel = document.getElementById('trace-panel');
    panel.hidden = false;
    panel.replaceChildren();
    const h = el('h2', {}, 'Flow tracing');
    const form = el('form', {id: 'trace-form'});
    this.caseSelect = el('select', {id: 'trace-case', 'aria-label': 'Case'});
    this.degree = el('select', {id: 'trace-degree', 'aria-label': 'Degree'},
      el('option', {value: '2'}, 'contacts + contacts of contacts'), el('option', {value: '1'}, 'close contacts only'));
    this.from = el('input', {id: 'trace-from', placeholder: 'from (RFC 3339; default: 14 days before to)', 'aria-label': 'From'});
    this.to = el('input', {id: 'trace-to', placeholder: 'to (default: the last ping)', 'aria-label': 'To'});
    this.runButton = el('button', {id: 'trace-run', type: 'submit'}, 'Trace contacts');
    form.append(label('Case', this.caseSelect), label('Degree', this.degree), this.from, this.to, this.runButton);
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      this.open(Number(this.caseSelect.value)).catch(() => {});
    });
    this.status = el('p', {id: 'trace-status', role: 'status'});
    this.slider = el('input', {id: 'trace-time', type: 'range', min: '0', max: '1000', value: '1000', disabled: '', 'aria-label': 'Show the trajectory until'});
    this.sliderLabel = el('output', {id: 'trace-time-label'});
    this.slider.addEventListener('input', () => {
      const [t0, t1] = this.span();
      this.setTime(t0 + (t1 - t0) * Number(this.slider.value) / 1000, false);
    });
    this.stays = el('ol', {id: 'trace-stays'});
    this.contacts = el('ol', {id: 'trace-contacts'});
    this.csv = el('a', {id: 'trace-csv', hidden: ''}, 'Export contacts (CSV)');
    this.panel = panel;
    panel.append(h, form, this.status, el('div', {class: 'trace-slider'}, this.slider, this.sliderLabel),
      el('h3', {}, 'Contacts (most exposed first)'), this.contacts, this.csv,
      el('h3', {}, 'Exposure places (stays)'), this.stays);
  }

  addLayers() {
    const map = this.map;
    for (const id of ['trace-track', 'trace-contacts', 'trace-stays', 'trace-encounters', 'trace-position']) {
      map.addSource(id, {type: 'geojson', data: empty()});
    }
    map.addLayer({id: 'trace-contacts', type: 'line', source: 'trace-contacts', layout: {'line-cap': 'round', 'line-join': 'round'},
      paint: {'line-color': ['case', ['==', ['get', 'degree'], 2], COLOURS.contact2, COLOURS.contact], 'line-width': 3, 'line-opacity': 0.85}});
    map.addLayer({id: 'trace-track', type: 'line', source: 'trace-track', layout: {'line-cap': 'round', 'line-join': 'round'},
      paint: {'line-color': COLOURS.track, 'line-width': 2.5, 'line-opacity': 0.8}});
    map.addLayer({id: 'trace-encounters', type: 'circle', source: 'trace-encounters',
      paint: {'circle-radius': 6, 'circle-color': COLOURS.encounter, 'circle-stroke-color': '#fff', 'circle-stroke-width': 1.5}});
    map.addLayer({id: 'trace-stays', type: 'circle', source: 'trace-stays',
      paint: {'circle-radius': 9, 'circle-color': COLOURS.stay, 'circle-stroke-color': COLOURS.track, 'circle-stroke-width': 2}});
    map.addLayer({id: 'trace-position', type: 'circle', source: 'trace-position',
      paint: {'circle-radius': 5, 'circle-color': COLOURS.track, 'circle-stroke-color': '#fff', 'circle-stroke-width': 2}});
  }

  async loadSubjects() {
    const {subjects} = await request('GET', '/api/v1/trace/subjects');
    this.hooks.subjects = subjects;
    this.caseSelect.replaceChildren(...subjects.map((s) => el('option', {value: String(s.id)},
      `${s.ext_id}${s.label ? ` · ${s.label}` : ''}${s.person ? ` · ${s.person.name}` : ''} (${s.pings} pings)`)));
    this.status.textContent = subjects.length ? '' : 'No trajectories loaded yet (POST /api/v1/pings or gridtrace import pings).';
  }

  // open traces a case: runs the search, then draws the case, its stays and its
  // contacts. opts may set degree, from and to.
  async open(caseId, opts = {}) {
    this.caseSelect.value = String(caseId);
    const body = {case: caseId, degree: Number(opts.degree || this.degree.value)};
    const from = opts.from || this.from.value.trim();
    const to = opts.to || this.to.value.trim();
    if (from) body.from = from;
    if (to) body.to = to;
    this.runButton.disabled = true;
    this.status.textContent = 'Tracing…';
    try {
      const run = await request('POST', '/api/v1/trace/contacts', body);
      this.hooks.run = run;
      const track = await request('GET', `/api/v1/trace/subjects/${caseId}/track?from=${enc(run.run.from)}&to=${enc(run.run.to)}`);
      this.track = pingsOf(track);
      await this.loadOverlays(run);
      this.showRun(run);
      this.fit(this.track.map((p) => p.p));
      return run;
    } catch (err) {
      this.status.textContent = err.field ? `${err.field}: ${err.message}` : err.message;
      throw err;
    } finally {
      this.runButton.disabled = false;
    }
  }

  // loadOverlays fetches each contact's trajectory around its encounters (the
  // strongest MAX_OVERLAYS contacts).
  async loadOverlays(run) {
    const top = run.contacts.slice(0, MAX_OVERLAYS);
    const pieces = await Promise.all(top.map(async (c) => {
      const from = new Date(Date.parse(c.first_at) - OVERLAY_MS).toISOString();
      const to = new Date(Date.parse(c.last_at) + 60000 + OVERLAY_MS).toISOString();
      try {
        const fc = await request('GET', `/api/v1/trace/subjects/${c.subject.id}/track?from=${enc(from)}&to=${enc(to)}`);
        const pings = pingsOf(fc).filter((p) => c.encounters.some((e) =>
          p.t >= Date.parse(e.start) - OVERLAY_MS && p.t <= Date.parse(e.end) + 60000 + OVERLAY_MS));
        return {rank: c.rank, degree: c.degree, pings};
      } catch {
        return {rank: c.rank, degree: c.degree, pings: []};
      }
    }));
    this.overlays = pieces;
  }

  showRun(run) {
    const r = run.run;
    const who = r.case.label || r.case.ext_id;
    this.status.textContent = `${who}: ${run.contacts.length} contact${run.contacts.length === 1 ? '' : 's'} in ${fmt(r.from)} – ${fmt(r.to)} (${r.case_pings} pings; ${r.rule})`;
    this.csv.href = `/api/v1/trace/contacts.csv?run=${r.id}`;
    this.csv.hidden = false;

    // Stays: numbered stops on the map and in the list.
    for (const m of this.markers) m.remove();
    this.markers = [];
    this.map.getSource('trace-stays').setData(run.stays);
    this.stays.replaceChildren(...run.stays.features.map((f) => {
      const p = f.properties;
      const item = el('li', {}, el('button', {type: 'button'}, `${fmt(p.arrival)} – ${fmt(p.departure)} (${Math.round(p.minutes)} min)`));
      item.firstChild.addEventListener('click', () => this.fit([f.geometry.coordinates], 17));
      const dot = el('div', {class: 'trace-stop', title: `stop ${p.n}`}, String(p.n));
      this.markers.push(new maplibregl.Marker({element: dot}).setLngLat(f.geometry.coordinates).addTo(this.map));
      return item;
    }));

    // Encounters as points; the contact list, ranked.
    const encounters = [];
    for (const c of run.contacts) {
      for (const e of c.encounters) {
        encounters.push({type: 'Feature', geometry: {type: 'Point', coordinates: e.where}, properties: {rank: c.rank, minutes: e.minutes}});
      }
    }
    this.map.getSource('trace-encounters').setData({type: 'FeatureCollection', features: encounters});
    this.contacts.replaceChildren(...run.contacts.map((c) => {
      const name = c.subject.person ? c.subject.person.name : (c.subject.label || c.subject.ext_id);
      const button = el('button', {type: 'button', 'data-rank': String(c.rank)},
        el('strong', {}, name), ` · ${c.minutes} min · ${c.min_distance_m.toFixed(1)} m`,
        el('small', {}, ` ${c.degree === 2 ? 'contact of a contact' : 'close contact'}, ${c.encounters.length} encounter${c.encounters.length === 1 ? '' : 's'}, first ${fmt(c.first_at)}`));
      button.addEventListener('click', () => this.selectContact(c.rank));
      return el('li', {class: c.degree === 2 ? 'degree2' : ''}, button);
    }));

    const [t0, t1] = this.span();
    this.slider.disabled = !(t1 > t0);
    this.slider.value = '1000';
    this.setTime(t1, false);
  }

  // span is the time range the slider covers: the case's pings.
  span() {
    if (!this.track.length) return [0, 0];
    return [this.track[0].t, this.track[this.track.length - 1].t];
  }

  // setTime shows the case's trajectory and the overlays up to t (ms since epoch).
  setTime(t, moveSlider = true) {
    this.until = t;
    const [t0, t1] = this.span();
    if (moveSlider && t1 > t0) this.slider.value = String(Math.round(1000 * (t - t0) / (t1 - t0)));
    const shown = this.track.filter((p) => p.t <= t);
    this.sliderLabel.textContent = shown.length ? fmt(new Date(shown[shown.length - 1].t).toISOString()) : '';
    this.map.getSource('trace-track').setData(lines(shown, {role: 'case'}));
    const last = shown[shown.length - 1];
    this.map.getSource('trace-position').setData(last ? {type: 'Feature', geometry: {type: 'Point', coordinates: last.p}, properties: {}} : empty());
    const features = [];
    for (const o of this.overlays) {
      features.push(...lines(o.pings.filter((p) => p.t <= t), {rank: o.rank, degree: o.degree}).features);
    }
    this.map.getSource('trace-contacts').setData({type: 'FeatureCollection', features});
  }

  // selectContact zooms to the contact's closest encounter: its place and both
  // trajectories during it. Resolves once the map has moved.
  selectContact(rank) {
    const c = this.hooks.run && this.hooks.run.contacts.find((x) => x.rank === rank);
    if (!c) return Promise.reject(new Error(`no contact ranked ${rank}`));
    for (const b of this.contacts.querySelectorAll('button')) b.classList.toggle('selected', b.dataset.rank === String(rank));
    this.map.setPaintProperty('trace-contacts', 'line-width', ['case', ['==', ['get', 'rank'], rank], 6, 3]);
    const e = c.encounters.reduce((a, b) => (b.min_distance_m < a.min_distance_m ? b : a));
    const t0 = Date.parse(e.start) - 60000;
    const t1 = Date.parse(e.end) + 2 * 60000;
    const near = (p) => p.t >= t0 && p.t <= t1;
    const overlay = this.overlays.find((o) => o.rank === rank);
    const points = [e.where, ...this.track.filter(near).map((p) => p.p), ...(overlay ? overlay.pings.filter(near).map((p) => p.p) : [])];
    this.hooks.lastEncounter = {rank, ...e};
    this.status.textContent = `Contact #${rank}: ${e.minutes} min from ${fmt(e.start)}, closest ${e.min_distance_m.toFixed(1)} m`;
    return this.fit(points, 18);
  }

  // fit frames the points (at most maxZoom) beside the panel and resolves when the
  // move ends.
  fit(points, maxZoom = 16) {
    if (!points.length) return Promise.resolve();
    const b = new maplibregl.LngLatBounds(points[0], points[0]);
    for (const p of points) b.extend(p);
    const canvas = this.map.getCanvas().getBoundingClientRect();
    const left = Math.min(this.panel.getBoundingClientRect().right + 20, canvas.width / 2);
    return new Promise((resolve) => {
      this.map.once('moveend', () => resolve());
      this.map.fitBounds(b, {padding: {top: 60, bottom: 60, right: 60, left}, maxZoom, duration: 400});
    });
  }

  // rendered counts the features each tracing layer draws in the viewport.
  rendered() {
    const out = {};
    for (const id of LAYERS) out[id] = this.map.queryRenderedFeatures({layers: [id]}).length;
    return out;
  }
}

// pingsOf turns a track answer (one LineString or MultiPoint with properties.times)
// into [{t, p}].
function pingsOf(fc) {
  const f = fc.features && fc.features[0];
  if (!f) return [];
  const times = f.properties.times || [];
  return f.geometry.coordinates.map((p, i) => ({t: Date.parse(times[i]), p}));
}

// lines draws pings as line pieces, broken at gaps longer than GAP_MS; a lone ping
// between gaps becomes a tiny piece so that it still shows.
function lines(pings, properties) {
  const features = [];
  let piece = [];
  const flush = () => {
    if (piece.length === 1) piece.push(piece[0]);
    if (piece.length) features.push({type: 'Feature', geometry: {type: 'LineString', coordinates: piece}, properties});
    piece = [];
  };
  for (let i = 0; i < pings.length; i++) {
    if (i > 0 && pings[i].t - pings[i - 1].t > GAP_MS) flush();
    piece.push(pings[i].p);
  }
  flush();
  return {type: 'FeatureCollection', features};
}

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  e.append(...children);
  return e;
}

function label(text, control) {
  return el('label', {}, text, ' ', control);
}

const enc = encodeURIComponent;

// fmt shows a time in UTC, to the minute (GeoLife and the API speak UTC).
function fmt(iso) {
  return `${iso.slice(0, 10)} ${iso.slice(11, 16)}Z`;
}
