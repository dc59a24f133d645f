// Care on the map: isolation, check-ins, the vulnerable, supplies, transfers and
// alerts. A panel on the left folds into sections (<details>) so it does not cover
// the map: for a grid worker, their people under isolation or monitoring with the
// check-ins due today and a form to record one, and their vulnerable people with a
// contact form that records the needs found; for every care writer, the supply
// deliveries with buttons that move them on, and a form that places a person under
// home isolation (after asking the server whether they are eligible) or health
// monitoring; for command staff, the transfers to central sites with their form and
// buttons, and the vulnerable who missed today's contact; for everyone, the open
// alerts and the central isolation sites with their free rooms, which are also drawn
// on the map. Everything reloads when the live feed (live.js) reports a change to
// alerts, spells, sites, transfers, deliveries or the vulnerable: there is no
// polling, so a broken feed shows as a stale panel. The forms are built once and
// kept across reloads, so a reload never wipes what a user is typing.
// window.gridtrace.care exposes test hooks: {ready, alertIds(), isolationIds(),
// siteIds(), siteFree(id), transferIds(), deliveryIds(), missedIds(),
// drawnAlerts(), checkIn(isolationId, temperature) → {status, body}}.
import {request} from './api.js';

export const CARE_WRITERS = ['admin', 'commander', 'grid_worker'];
export const CARE_COMMAND = ['admin', 'commander'];
const RELOAD_DEBOUNCE = 200;
const ENTITIES = new Set(['alert', 'isolation', 'site', 'vulnerable', 'transfer', 'delivery']);
const ALERT_TEXT = {fever: 'Fever', missed_checkin: 'Missed check-in', missed_contact: 'Missed contact', over_capacity: 'Site full'};
// The values grid/vulnerable.go (CareNeeds, DeliveryItems) and grid/isolation.go
// (IsolationReasons) accept; the server checks them again.
const NEEDS = ['food', 'medicine', 'care'];
const ITEMS = ['food', 'medicine', 'care', 'daily_goods'];
const REASONS = ['returnee', 'close_contact', 'secondary_contact'];
const CONDITIONS = {separate_room: 'Separate room', separate_bathroom: 'Separate bathroom', pregnant: 'Pregnant',
  severe_illness: 'Severe underlying illness', relative_critically_ill: 'Close relative critically ill or deceased'};
// The buttons each status offers (the transitions of AdvanceDelivery / AdvanceTransfer).
const DELIVERY_ACTIONS = {requested: ['dispatch', 'deliver', 'cancel'], dispatched: ['deliver', 'cancel']};
const TRANSFER_ACTIONS = {requested: ['depart', 'arrive', 'cancel'], in_transit: ['arrive', 'cancel']};
const ACTION_TEXT = {dispatch: 'Dispatch', deliver: 'Delivered', cancel: 'Cancel', depart: 'Depart', arrive: 'Arrived'};
const NARROW = '(max-width: 600px)';

const empty = () => ({type: 'FeatureCollection', features: []});
const words = (s) => String(s).replaceAll('_', ' ');
const errorText = (err) => `${err.message}${err.field ? ` (${err.field})` : ''}`;
const checks = (name, values, label = words) =>
  values.map((v) => `<label><input type="checkbox" name="${name}" value="${v}"> ${label(v)}</label>`).join('');
const options = (values) => values.map((v) => `<option value="${v}">${words(v)}</option>`).join('');
const checked = (form, name) => [...form.querySelectorAll(`input[name="${name}"]:checked`)].map((i) => i.value);

// startCare adds the care panel and layers to map for user.
export function startCare(map, user) {
  const view = new CareView(map, user);
  const hooks = {
    alertIds: () => view.alerts.map((a) => a.id),
    isolationIds: () => view.isolations.map((x) => x.id),
    siteIds: () => view.sites.map((s) => s.id),
    siteFree: (id) => view.sites.find((s) => s.id === Number(id))?.free ?? null,
    transferIds: () => view.transfers.map((t) => t.id),
    deliveryIds: () => view.deliveries.map((d) => d.id),
    missedIds: () => view.missed.map((v) => v.person_id),
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
    this.command = CARE_COMMAND.includes(user.role);
    this.alerts = [];
    this.isolations = [];
    this.vulnerable = [];
    this.sites = [];
    this.transfers = [];
    this.deliveries = [];
    this.missed = [];
    this.el = {};
    this.timer = null;
    this.seq = 0;
  }

  async start() {
    const map = this.map;
    map.addSource('care-sites', {type: 'geojson', data: empty()});
    map.addSource('care-alerts', {type: 'geojson', data: empty()});
    map.addLayer({id: 'care-sites', type: 'circle', source: 'care-sites',
      paint: {'circle-radius': 7, 'circle-color': ['case', ['>', ['get', 'free'], 0], '#1a9850', '#999'],
        'circle-stroke-color': '#fff', 'circle-stroke-width': 2}});
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
    const none = (key) => Promise.resolve({[key]: []});
    try {
      const [alerts, sites, isolations, vulnerable, deliveries, transfers, missed] = await Promise.all([
        request('GET', '/api/v1/alerts'),
        request('GET', '/api/v1/sites'),
        this.worker ? request('GET', '/api/v1/isolations') : none('isolations'),
        this.worker ? request('GET', '/api/v1/vulnerable?mine=true') : none('vulnerable'),
        this.writer ? request('GET', '/api/v1/deliveries') : none('deliveries'),
        this.command ? request('GET', '/api/v1/transfers') : none('transfers'),
        this.command ? request('GET', '/api/v1/vulnerable?missed=true') : none('vulnerable'),
      ]);
      if (mine !== this.seq) return;
      this.alerts = alerts.alerts;
      this.sites = sites.sites;
      this.isolations = isolations.isolations;
      this.vulnerable = vulnerable.vulnerable;
      this.deliveries = deliveries.deliveries;
      this.transfers = transfers.transfers;
      this.missed = missed.vulnerable;
      this.render();
    } catch (err) {
      if (mine === this.seq) this.showError(err);
    }
  }

  // buildPanel lays out the sections once; render() fills their lists.
  buildPanel() {
    const panel = document.getElementById('care-panel');
    panel.hidden = false;
    const section = (id, title, shown, open, body, countId = `${id}-count`) =>
      `<details id="${id}-box" class="care-section" ${shown ? '' : 'hidden'} ${open ? 'open' : ''}>
        <summary>${title} <small id="${countId}"></small></summary>${body}</details>`;
    const narrow = matchMedia(NARROW).matches;
    panel.innerHTML = `<details id="care-main" ${narrow ? '' : 'open'}><summary><h2>Care</h2> <small id="care-summary"></small></summary>
      <p id="care-error" role="alert" hidden></p>
      ${section('care-isolations', 'My isolated people', this.worker, true, '<ul id="care-isolations"></ul>')}
      ${section('care-vulnerable', 'Vulnerable to contact', this.worker, true, `<ul id="care-vulnerable"></ul>
        <form id="care-contact-form" class="care-form" hidden>
          <p>Contact with <b id="care-contact-name"></b>: needs found</p>
          <div class="care-checks">${checks('need', NEEDS)}</div>
          <label>Note <input name="note" maxlength="500"></label>
          <button type="submit">Save contact</button> <button type="button" name="close">Cancel</button>
        </form>`)}
      ${section('care-missed', 'Missed contacts today', this.command, false, '<ul id="care-missed"></ul>')}
      ${section('care-deliveries', 'Supply deliveries', this.writer, false, `<ul id="care-deliveries"></ul>
        <form id="care-delivery-form" class="care-form">
          <label>Household <input name="household" type="number" min="1" required list="care-households"></label>
          <datalist id="care-households"></datalist>
          <div class="care-checks">${checks('item', ITEMS)}</div>
          <label>Note <input name="note" maxlength="500"></label>
          <button type="submit">Request delivery</button>
          <p class="care-msg" id="care-delivery-msg" role="status" hidden></p>
        </form>`)}
      ${section('care-transfers', 'Transfers to sites', this.command, false, `<ul id="care-transfers"></ul>
        <form id="care-transfer-form" class="care-form">
          <label>Person id <input name="person" type="number" min="1" required></label>
          <label>To site <select name="site" required></select></label>
          <label>Vehicle <input name="vehicle" maxlength="100"></label>
          <label>Reason <select name="reason"><option value="">the spell's reason</option>${options(REASONS)}</select></label>
          <button type="submit">Request transfer</button>
          <p class="care-msg" id="care-transfer-msg" role="status" hidden></p>
        </form>`)}
      ${section('care-place', 'Place under isolation', this.writer, false, `
        <form id="care-place-form" class="care-form">
          <label>Person id <input name="person" type="number" min="1" required></label>
          <label>Kind <select name="kind">${options(['home_isolation', 'health_monitoring'])}</select></label>
          <label>Reason <select name="reason">${options(REASONS)}</select></label>
          <label>Start date <input name="start" type="date" title="empty: today"></label>
          <fieldset name="conditions"><legend>Home isolation conditions</legend>${checks('condition', Object.keys(CONDITIONS), (k) => CONDITIONS[k])}</fieldset>
          <button type="submit">Check and place</button>
          <p class="care-msg" id="care-place-msg" role="status" hidden></p>
        </form>`)}
      ${section('care-alerts', 'Open alerts', true, true, '<ul id="care-alerts"></ul>', 'care-alert-count')}
      ${section('care-sites', 'Isolation sites', true, false, '<ul id="care-sites"></ul>')}
    </details>`;
    const $ = (id) => document.getElementById(id);
    this.el = {contact: $('care-contact-form'), delivery: $('care-delivery-form'), transfer: $('care-transfer-form'),
      place: $('care-place-form')};
    this.el.contact.addEventListener('submit', (ev) => { ev.preventDefault(); this.saveContact(); });
    this.el.contact.elements.close.addEventListener('click', () => { this.el.contact.hidden = true; });
    this.el.delivery.addEventListener('submit', (ev) => { ev.preventDefault(); this.requestDelivery(); });
    this.el.transfer.addEventListener('submit', (ev) => { ev.preventDefault(); this.requestTransfer(); });
    this.el.place.addEventListener('submit', (ev) => { ev.preventDefault(); this.place(); });
    const kind = this.el.place.elements.kind;
    const showConditions = () => { this.el.place.elements.conditions.hidden = kind.value !== 'home_isolation'; };
    kind.addEventListener('change', showConditions);
    showConditions();
  }

  showError(err) {
    const e = document.getElementById('care-error');
    e.hidden = !err;
    e.textContent = err ? errorText(err) : '';
  }

  // say shows a form's outcome under it: an error (with its field) or a success.
  say(id, text, bad) {
    const p = document.getElementById(id);
    p.hidden = !text;
    p.textContent = text || '';
    p.classList.toggle('care-bad', !!bad);
  }

  render() {
    const time = (s) => (s ? new Date(s).toLocaleTimeString([], {hour: '2-digit', minute: '2-digit'}) : '');
    const point = (loc, props) => ({type: 'Feature', geometry: {type: 'Point', coordinates: loc}, properties: props});
    this.map.getSource('care-sites').setData({type: 'FeatureCollection',
      features: this.sites.map((s) => point(s.location, {id: s.id, name: s.name, free: s.free}))});
    this.map.getSource('care-alerts').setData({type: 'FeatureCollection',
      features: this.alerts.filter((a) => a.location).map((a) => point(a.location, {id: a.id, kind: a.kind}))});
    const count = (id, n) => { document.getElementById(id).textContent = `(${n})`; };
    const button = (text, onClick, name) => {
      const b = document.createElement('button');
      b.type = 'button';
      b.textContent = text;
      if (name) b.name = name;
      b.addEventListener('click', onClick);
      return b;
    };
    const open = this.deliveries.filter((d) => DELIVERY_ACTIONS[d.status]);
    const parts = [`alerts ${this.alerts.length}`];
    if (this.command) parts.push(`missed ${this.missed.length}`);
    if (this.writer) parts.push(`open deliveries ${open.length}`);
    document.getElementById('care-summary').textContent = parts.join(' · ');

    count('care-alert-count', this.alerts.length);
    document.getElementById('care-alerts').replaceChildren(...this.alerts.map((a) => {
      const li = document.createElement('li');
      li.dataset.alertId = a.id;
      li.dataset.kind = a.kind;
      li.className = `care-alert care-${a.kind}`;
      li.textContent = `${ALERT_TEXT[a.kind] || a.kind}: ${a.message} `;
      if (this.writer) {
        for (const action of a.status === 'open' ? ['acknowledge', 'close'] : ['close']) {
          li.append(button(action === 'close' ? 'Close' : 'Ack', () => this.act(`/api/v1/alerts/${a.id}/${action}`)));
        }
      }
      return li;
    }));

    count('care-sites-count', this.sites.filter((s) => s.free > 0).length);
    document.getElementById('care-sites').replaceChildren(...this.sites.map((s) => {
      const li = document.createElement('li');
      li.dataset.siteId = s.id;
      li.dataset.free = s.free;
      li.className = s.free > 0 ? '' : 'care-full';
      li.textContent = `${s.name}: ${s.free} of ${s.rooms} rooms free`;
      return li;
    }));
    this.renderSiteChoice();

    count('care-isolations-count', this.isolations.length);
    document.getElementById('care-isolations').replaceChildren(...this.isolations.map((x) => {
      const li = document.createElement('li');
      li.dataset.isolationId = x.id;
      const due = x.next_due ? `next by ${time(x.next_due)}` : 'done for today';
      const temp = x.last_temperature_c !== null ? `, last ${x.last_temperature_c} °C` : '';
      li.append(`${x.person_name} (${words(x.kind)} to ${x.last_day}): ${x.checkins_today} today, ${due}${temp} `);
      const form = document.createElement('form');
      form.className = 'care-checkin';
      form.innerHTML = `<input name="temperature" type="number" step="0.1" min="30" max="45" placeholder="°C" required>
        <button type="submit">Record</button>`;
      form.addEventListener('submit', async (ev) => {
        ev.preventDefault();
        await this.checkIn(x.id, Number(form.temperature.value));
      });
      li.append(form);
      if (x.kind !== 'central_isolation') {
        li.append(button('Supplies', () => this.prefillDelivery(x.household_id, []), 'supplies'));
      }
      return li;
    }));

    count('care-vulnerable-count', this.vulnerable.filter((v) => v.due && !v.contacted_today).length);
    document.getElementById('care-vulnerable').replaceChildren(...this.vulnerable.map((v) => {
      const li = document.createElement('li');
      li.dataset.personId = v.person_id;
      li.className = v.missed ? 'care-missed' : '';
      const state = v.contacted_today ? 'contacted today' : v.due ? 'to contact today' : 'not in a sealed or control zone';
      li.append(`${v.name} (${v.vulnerability.map(words).join(', ')}): ${state} `);
      const needs = v.contacted_today ? v.last_needs : [];
      if (needs.length) {
        const s = document.createElement('span');
        s.className = 'care-needs';
        s.textContent = `needs ${needs.map(words).join(', ')} `;
        li.append(s);
      }
      li.append(button('Contacted…', () => this.openContact(v), 'contacted'));
      if (needs.length) li.append(button('Order delivery', () => this.prefillDelivery(v.household_id, needs), 'order'));
      return li;
    }));

    count('care-missed-count', this.missed.length);
    document.getElementById('care-missed').replaceChildren(...this.missed.map((v) => {
      const li = document.createElement('li');
      li.dataset.personId = v.person_id;
      li.className = 'care-missed';
      const last = v.last_contact_at ? `last contact ${new Date(v.last_contact_at).toLocaleDateString()}` : 'never contacted';
      li.textContent = `${v.name} (${v.vulnerability.map(words).join(', ')}), ${v.address}: ${last}; ` +
        (v.worker_name ? `worker ${v.worker_name}` : 'no worker assigned');
      return li;
    }));

    count('care-deliveries-count', open.length);
    const addresses = this.households();
    document.getElementById('care-deliveries').replaceChildren(...this.deliveries.map((d) => {
      const li = document.createElement('li');
      li.dataset.deliveryId = d.id;
      li.dataset.status = d.status;
      li.className = `care-delivery care-${d.status}`;
      const where = d.address || addresses.get(d.household_id) || `household ${d.household_id}`;
      li.append(`#${d.id} ${where}: ${d.items.map(words).join(', ')} `);
      const s = document.createElement('b');
      s.className = 'care-status';
      s.textContent = words(d.status);
      li.append(s);
      for (const action of DELIVERY_ACTIONS[d.status] || []) {
        li.append(button(ACTION_TEXT[action], () => this.act(`/api/v1/deliveries/${d.id}/${action}`), action));
      }
      return li;
    }));
    document.getElementById('care-households').replaceChildren(...[...addresses].map(([id, address]) => {
      const o = document.createElement('option');
      o.value = id;
      o.label = address;
      return o;
    }));

    const siteName = new Map(this.sites.map((s) => [s.id, s.name]));
    count('care-transfers-count', this.transfers.filter((t) => TRANSFER_ACTIONS[t.status]).length);
    document.getElementById('care-transfers').replaceChildren(...this.transfers.map((t) => {
      const li = document.createElement('li');
      li.dataset.transferId = t.id;
      li.dataset.status = t.status;
      li.className = `care-transfer care-${t.status}`;
      const vehicle = t.vehicle ? ` by ${t.vehicle}` : '';
      const who = t.person_name ? `${t.person_name} (person ${t.person_id})` : `person ${t.person_id}`;
      li.append(`#${t.id} ${who} → ${t.site_name || siteName.get(t.site_id) || `site ${t.site_id}`}${vehicle}: `);
      const s = document.createElement('b');
      s.className = 'care-status';
      s.textContent = words(t.status);
      li.append(s);
      for (const action of TRANSFER_ACTIONS[t.status] || []) {
        li.append(button(ACTION_TEXT[action], () => this.act(`/api/v1/transfers/${t.id}/${action}`), action));
      }
      return li;
    }));
  }

  // households are the homes the panel knows an address for (the worker's isolated
  // and vulnerable people), offered when a delivery is requested.
  households() {
    const out = new Map();
    for (const x of this.isolations) if (x.kind !== 'central_isolation') out.set(x.household_id, x.address);
    for (const v of this.vulnerable) out.set(v.household_id, v.address);
    return out;
  }

  // renderSiteChoice lists every site in the transfer form, full ones too: the
  // server decides (409) and the form says why, so a list that is a moment stale
  // never hides a site. The choice survives the reload.
  renderSiteChoice() {
    const select = this.el.transfer.elements.site;
    const was = select.value;
    select.replaceChildren(...this.sites.map((s) => {
      const o = document.createElement('option');
      o.value = s.id;
      o.textContent = `${s.name} (${s.free > 0 ? `${s.free} free` : 'full'})`;
      return o;
    }));
    if (this.sites.some((s) => String(s.id) === was)) select.value = was;
  }

  openContact(v) {
    const form = this.el.contact;
    form.reset();
    form.dataset.personId = v.person_id;
    document.getElementById('care-contact-name').textContent = v.name;
    form.hidden = false;
  }

  async saveContact() {
    const form = this.el.contact;
    const ok = await this.act(`/api/v1/vulnerable/${form.dataset.personId}/contacts`,
      {needs: checked(form, 'need'), note: form.elements.note.value});
    if (ok) form.hidden = true;
  }

  // prefillDelivery opens the delivery form for a household with the items found.
  prefillDelivery(household, items) {
    const form = this.el.delivery;
    form.reset();
    form.elements.household.value = household;
    for (const box of form.querySelectorAll('input[name="item"]')) box.checked = items.includes(box.value);
    document.getElementById('care-deliveries-box').open = true;
    this.say('care-delivery-msg', '');
    form.scrollIntoView({block: 'nearest'});
  }

  async requestDelivery() {
    const form = this.el.delivery;
    try {
      const d = await request('POST', '/api/v1/deliveries',
        {household_id: Number(form.elements.household.value), items: checked(form, 'item'), note: form.elements.note.value});
      this.say('care-delivery-msg', `Delivery #${d.id} requested.`);
      form.reset();
    } catch (err) {
      this.say('care-delivery-msg', errorText(err), true);
    }
  }

  async requestTransfer() {
    const f = this.el.transfer.elements;
    try {
      const t = await request('POST', '/api/v1/transfers', {person_id: Number(f.person.value), site_id: Number(f.site.value),
        vehicle: f.vehicle.value, reason: f.reason.value});
      this.say('care-transfer-msg', `Transfer #${t.id} requested.`);
      f.person.value = '';
    } catch (err) {
      this.say('care-transfer-msg', err.status === 409 ? `Refused: ${errorText(err)}` : errorText(err), true);
    }
  }

  // place asks the server whether home isolation is allowed before placing: the
  // reasons it gives are what the worker has to fix. Health monitoring has no such
  // condition, so it is placed directly.
  async place() {
    const form = this.el.place;
    const f = form.elements;
    const body = {person_id: Number(f.person.value), kind: f.kind.value, reason: f.reason.value, start_date: f.start.value};
    if (body.kind === 'home_isolation') {
      for (const c of Object.keys(CONDITIONS)) body[c] = false;
      for (const c of checked(form, 'condition')) body[c] = true;
    }
    try {
      if (body.kind === 'home_isolation') {
        const {kind, reason, ...ask} = body;
        const e = await request('POST', '/api/v1/isolations/eligibility', ask);
        if (!e.eligible) {
          this.say('care-place-msg', `Not eligible for home isolation: ${e.reasons.join('; ')}`, true);
          return;
        }
      }
      const x = await request('POST', '/api/v1/isolations', body);
      this.say('care-place-msg', `${x.person_name} is under ${words(x.kind)} until ${x.last_day}.`);
      f.person.value = '';
    } catch (err) {
      this.say('care-place-msg', errorText(err), true);
    }
  }

  // act posts an action; the lists refresh when the live feed reports it.
  async act(path, body) {
    try {
      await request('POST', path, body);
      this.showError(null);
      return true;
    } catch (err) {
      this.showError(err);
      return false;
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
