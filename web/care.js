// Care on the map: isolation, check-ins, the vulnerable and alerts. A panel on the
// left shows, for a grid worker, their people under isolation or monitoring with the
// check-ins due today and a form to record one, their vulnerable people to contact,
// and their open alerts; command staff see the open alerts and the central isolation
// sites with free rooms, which are also drawn on the map. Everything reloads when
// the live feed (live.js) reports a change to alerts, spells, sites or the
// vulnerable: there is no polling, so a broken feed shows as a stale panel.
// window.gridtrace.care exposes test hooks: {ready, alertIds(), isolationIds(),
// siteIds(), drawnAlerts(), checkIn(isolationId, temperature) → {status, body}}.
import {request} from './api.js';

export const CARE_WRITERS = ['admin', 'commander', 'grid_worker'];
const RELOAD_DEBOUNCE = 200;
const ENTITIES = new Set(['alert', 'isolation', 'site', 'vulnerable', 'transfer']);
const ALERT_TEXT = {fever: 'Fever', missed_checkin: 'Missed check-in', missed_contact: 'Missed contact', over_capacity: 'Site full'};

const empty = () => ({type: 'FeatureCollection', features: []});

// startCare adds the care panel and layers to map for user.
export function startCare(map, user) {
  const view = new CareView(map, user);
  const hooks = {
    alertIds: () => view.alerts.map((a) => a.id),
    isolationIds: () => view.isolations.map((x) => x.id),
    siteIds: () => view.sites.map((s) => s.id),
    drawnAlerts: () => map.queryRenderedFeatures({layers: ['care-alerts']}).length,
    checkIn: (id, temperature) => view.checkIn(id, temperature),
  };
  window.gridtrace = window.gridtrace || {};
  window.gridtrace.care = hooks;
  hooks.ready = view.start();
  return hooks;
}

class CareView {
  constructor(map, user) {
    this.map = map;
    this.user = user;
    this.worker = user.role === 'grid_worker';
    this.writer = CARE_WRITERS.includes(user.role);
    this.alerts = [];
    this.isolations = [];
    this.vulnerable = [];
    this.sites = [];
    this.timer = null;
    this.seq = 0;
  }

  async start() {
    const map = this.map;
    map.addSource('care-sites', {type: 'geojson', data: empty()});
    map.addSource('care-alerts', {type: 'geojson', data: empty()});
    map.addLayer({id: 'care-sites', type: 'circle', source: 'care-sites',
      paint: {'circle-radius': 7, 'circle-color': '#1a9850', 'circle-stroke-color': '#fff', 'circle-stroke-width': 2}});
    map.addLayer({id: 'care-alerts', type: 'circle', source: 'care-alerts',
      paint: {'circle-radius': 6, 'circle-color': '#d7191c', 'circle-stroke-color': '#fff', 'circle-stroke-width': 1.5}});
    this.buildPanel();
    addEventListener('gridtrace:change', (ev) => {
      const m = ev.detail || {};
      if (ENTITIES.has(m.entity) || m.type === 'reset') this.reload();
    });
    await this.load();
    return true;
  }

  reload() {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.load(), RELOAD_DEBOUNCE);
  }

  // load fetches every list at once; an answer overtaken by a newer load is dropped.
  async load() {
    const mine = ++this.seq;
    try {
      const [alerts, sites, isolations, vulnerable] = await Promise.all([
        request('GET', '/api/v1/alerts'),
        request('GET', '/api/v1/sites?free=true'),
        this.worker ? request('GET', '/api/v1/isolations') : Promise.resolve({isolations: []}),
        this.worker ? request('GET', '/api/v1/vulnerable?mine=true') : Promise.resolve({vulnerable: []}),
      ]);
      if (mine !== this.seq) return;
      this.alerts = alerts.alerts;
      this.sites = sites.sites;
      this.isolations = isolations.isolations;
      this.vulnerable = vulnerable.vulnerable;
      this.render();
    } catch (err) {
      if (mine === this.seq) this.showError(err);
    }
  }

  buildPanel() {
    const panel = document.getElementById('care-panel');
    panel.hidden = false;
    panel.innerHTML = `<h2>Care</h2>
      <p id="care-error" role="alert" hidden></p>
      <section id="care-isolations-box" ${this.worker ? '' : 'hidden'}><h3>My isolated people</h3><ul id="care-isolations"></ul></section>
      <section id="care-vulnerable-box" ${this.worker ? '' : 'hidden'}><h3>Vulnerable to contact</h3><ul id="care-vulnerable"></ul></section>
      <section><h3>Open alerts <small id="care-alert-count"></small></h3><ul id="care-alerts"></ul></section>
      <section><h3>Sites with free rooms</h3><ul id="care-sites"></ul></section>`;
  }

  showError(err) {
    const e = document.getElementById('care-error');
    e.hidden = !err;
    e.textContent = err ? `${err.message}${err.field ? ` (${err.field})` : ''}` : '';
  }

  render() {
    const time = (s) => (s ? new Date(s).toLocaleTimeString([], {hour: '2-digit', minute: '2-digit'}) : '');
    const point = (loc, props) => ({type: 'Feature', geometry: {type: 'Point', coordinates: loc}, properties: props});
    this.map.getSource('care-sites').setData({type: 'FeatureCollection',
      features: this.sites.map((s) => point(s.location, {id: s.id, name: s.name, free: s.free}))});
    this.map.getSource('care-alerts').setData({type: 'FeatureCollection',
      features: this.alerts.filter((a) => a.location).map((a) => point(a.location, {id: a.id, kind: a.kind}))});

    const alerts = document.getElementById('care-alerts');
    document.getElementById('care-alert-count').textContent = `(${this.alerts.length})`;
    alerts.replaceChildren(...this.alerts.map((a) => {
      const li = document.createElement('li');
      li.dataset.alertId = a.id;
      li.dataset.kind = a.kind;
      li.className = `care-alert care-${a.kind}`;
      li.textContent = `${ALERT_TEXT[a.kind] || a.kind}: ${a.message} `;
      if (this.writer) {
        for (const action of a.status === 'open' ? ['acknowledge', 'close'] : ['close']) {
          const b = document.createElement('button');
          b.type = 'button';
          b.textContent = action === 'close' ? 'Close' : 'Ack';
          b.addEventListener('click', () => this.act(`/api/v1/alerts/${a.id}/${action}`));
          li.append(b);
        }
      }
      return li;
    }));

    document.getElementById('care-sites').replaceChildren(...this.sites.map((s) => {
      const li = document.createElement('li');
      li.dataset.siteId = s.id;
      li.textContent = `${s.name}: ${s.free} of ${s.rooms} rooms free`;
      return li;
    }));

    document.getElementById('care-isolations').replaceChildren(...this.isolations.map((x) => {
      const li = document.createElement('li');
      li.dataset.isolationId = x.id;
      const due = x.next_due ? `next by ${time(x.next_due)}` : 'done for today';
      const temp = x.last_temperature_c !== null ? `, last ${x.last_temperature_c} °C` : '';
      li.append(`${x.person_name} (${x.kind.replace('_', ' ')} to ${x.last_day}): ${x.checkins_today} today, ${due}${temp} `);
      const form = document.createElement('form');
      form.className = 'care-checkin';
      form.innerHTML = `<input name="temperature" type="number" step="0.1" min="30" max="45" placeholder="°C" required>
        <button type="submit">Record</button>`;
      form.addEventListener('submit', async (ev) => {
        ev.preventDefault();
        await this.checkIn(x.id, Number(form.temperature.value));
      });
      li.append(form);
      return li;
    }));

    document.getElementById('care-vulnerable').replaceChildren(...this.vulnerable.map((v) => {
      const li = document.createElement('li');
      li.dataset.personId = v.person_id;
      li.className = v.missed ? 'care-missed' : '';
      const state = v.due ? (v.contacted_today ? 'contacted today' : 'to contact today') : 'not in a sealed or control zone';
      li.append(`${v.name} (${v.vulnerability.join(', ')}): ${state} `);
      const b = document.createElement('button');
      b.type = 'button';
      b.textContent = 'Contacted';
      b.addEventListener('click', () => this.act(`/api/v1/vulnerable/${v.person_id}/contacts`, {needs: []}));
      li.append(b);
      return li;
    }));
  }

  async act(path, body) {
    try {
      await request('POST', path, body);
      this.showError(null);
    } catch (err) {
      this.showError(err);
    }
  }

  // checkIn records a reading; the panel refreshes when the live feed reports it.
  async checkIn(id, temperature) {
    try {
      const body = await request('POST', `/api/v1/isolations/${id}/checkins`, {temperature_c: temperature, source: 'worker'});
      this.showError(null);
      return {status: 201, body};
    } catch (err) {
      this.showError(err);
      return {status: err.status || 0, body: {message: err.message, field: err.field}};
    }
  }
}
