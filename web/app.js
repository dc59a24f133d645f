// Entry point of the browser app: restore or open a session, then the map.
// window.gridtrace exposes test hooks: {ready, map, user, layersRendered()}; zones.js
// trace.js and care.js add theirs under .zones, .trace and .care.
import {me, logout} from './api.js';
import {showLogin} from './login.js';
import {createMap, fitJurisdiction, GROUPS, layersRendered, setGroupVisible, startHeat} from './map.js';
import {startLive} from './live.js';
import {startTrace} from './trace.js';
import {startZones} from './zones.js';
import {startSampling} from './sampling.js';
import {startSampler} from './sampler.js';
import {startCare} from './care.js';

let markReady;
const hooks = {
  ready: new Promise((resolve) => { markReady = resolve; }),
  map: null,
  user: null,
  layersRendered: () => (hooks.map ? layersRendered(hooks.map) : {}),
};
window.gridtrace = hooks;

async function currentUser() {
  try {
    return await me();
  } catch (err) {
    if (err.status === 401) return showLogin();
    throw err;
  }
}

function showStatus(user) {
  document.getElementById('status-user').textContent = `${user.name} · ${user.role.replace('_', ' ')}`;
  document.getElementById('logout').addEventListener('click', async () => {
    try { await logout(); } finally { location.reload(); }
  });
}

// buildPanel adds a checkbox per layer group; onToggle(group, visible) follows a change.
function buildPanel(map, onToggle) {
  const list = document.getElementById('layers');
  for (const group of GROUPS) {
    const label = document.createElement('label');
    const box = document.createElement('input');
    box.type = 'checkbox';
    box.checked = true;
    box.dataset.group = group.id || group.layers[0];
    box.addEventListener('change', () => {
      setGroupVisible(map, group, box.checked);
      onToggle(group, box.checked);
    });
    label.append(box, ' ', group.label);
    list.append(label);
  }
}

function heatUnavailable() {
  const box = document.querySelector('#layers input[data-group="h3"]');
  box.checked = false;
  box.disabled = true;
  box.parentElement.title = 'H3 heat layer unavailable on this server';
}

// samplerView: #sampler asks for the sampler's view, #team/<round>/<team> for a
// team's list in it, #map for the command map; samplers land on their view.
function samplerView(user) {
  return location.hash === '#sampler' || teamOf(location.hash) !== null || (user.role === 'sampler' && location.hash !== '#map');
}

function teamOf(hash) {
  const m = /^#team\/(\d+)\/(\d+)$/.exec(hash);
  return m ? {round: Number(m[1]), team: Number(m[2])} : null;
}

// Switching between the two views starts the app over in the other one.
addEventListener('hashchange', () => location.reload());

// addRouteLink puts a link to the sampler's view in the status bar of a sampler.
function addRouteLink(user) {
  if (user.role !== 'sampler') return;
  const a = document.createElement('a');
  a.href = '#sampler';
  a.id = 'my-route-link';
  a.textContent = 'My route';
  document.getElementById('status').append(' ', a);
}

async function main() {
  const user = await currentUser();
  hooks.user = user;
  if (samplerView(user)) {
    hooks.sampler = startSampler(user, teamOf(location.hash));
    await hooks.sampler.ready;
    markReady(hooks.map);
    return;
  }
  document.getElementById('map-view').hidden = false;
  showStatus(user);
  const map = await createMap(document.getElementById('map'));
  hooks.map = map;
  await fitJurisdiction(map, user.area_ids || []);
  let refreshHeat = () => {};
  buildPanel(map, (group, visible) => { if (visible && group.id === 'h3') refreshHeat(); });
  refreshHeat = startHeat(map, heatUnavailable);
  hooks.live = startLive(map, {onRefresh: (source) => { if (source === 'households') refreshHeat(); }});
  startTrace(map, user);
  startZones(map, user);
  startSampling(map, user);
  addRouteLink(user);
  startCare(map, user);
  markReady(map);
}

main().catch((err) => {
  document.getElementById('fatal').textContent = `gridtrace could not start: ${err.message || err}`;
  document.getElementById('fatal').hidden = false;
  console.error(err);
});
