// The command map: our own layers on a plain background, so it works with no
// internet. Boundaries, households and cases come as vector tiles cut by the server
// to the user's jurisdiction; the H3 heat layer is GeoJSON from /api/v1/h3
// (cell polygons with properties {cell, count}).
import * as maplibregl from './vendor/maplibre-gl.mjs';
import {request} from './api.js';

// MapLibre 6 finds maplibre-gl-worker.mjs beside its own module by default; naming
// it here keeps the map working if the bundle is ever served from elsewhere.
maplibregl.setWorkerUrl(new URL('./vendor/maplibre-gl-worker.mjs', import.meta.url).href);

// Households come one by one from this zoom, clustered one zoom below, not at all
// further out (grid.HouseholdPointZoom / HouseholdClusterZoom).
const HOUSEHOLD_POINT_ZOOM = 13;
const HOUSEHOLD_CLUSTER_ZOOM = 12;

// Tile URLs must be absolute: the worker resolves them, not the page. Only the
// origin is prepended, so the {z}/{x}/{y} placeholders stay unescaped.
const tiles = (layer) => [`${location.origin}/tiles/${layer}/{z}/{x}/{y}.mvt`];

const VIEW_KEY = 'gridtrace.view';
const SHANGHAI = {center: [121.47, 31.23], zoom: 10};

const style = {
  version: 8,
  sources: {
    // promoteId: an area's id keys its feature state (sampling.js colours coverage).
    areas: {type: 'vector', tiles: tiles('areas'), maxzoom: 16, promoteId: 'id'},
    households: {type: 'vector', tiles: tiles('households'), minzoom: HOUSEHOLD_CLUSTER_ZOOM, maxzoom: 16},
    cases: {type: 'vector', tiles: tiles('cases'), maxzoom: 16},
    h3: {type: 'geojson', data: {type: 'FeatureCollection', features: []}},
  },
  layers: [
    {id: 'background', type: 'background', paint: {'background-color': '#f4f1ea'}},
    {id: 'h3-heat', type: 'fill', source: 'h3', paint: {
      'fill-color': ['interpolate', ['linear'], ['get', 'heat'], 0, '#ffffb2', 0.5, '#fd8d3c', 1, '#bd0026'],
      // Fainter as households appear one by one on top of it.
      'fill-opacity': ['interpolate', ['linear'], ['zoom'], 12, 0.45, 16, 0.2],
    }},
    // Invisible fill: a click anywhere inside an area finds it.
    {id: 'area-hit', type: 'fill', source: 'areas', 'source-layer': 'areas', paint: {'fill-opacity': 0}},
    {id: 'grids', type: 'line', source: 'areas', 'source-layer': 'areas', filter: ['==', ['get', 'level'], 'grid'],
      paint: {'line-color': '#9e9ac8', 'line-width': 0.75}},
    {id: 'communities', type: 'line', source: 'areas', 'source-layer': 'areas', filter: ['==', ['get', 'level'], 'community'],
      paint: {'line-color': '#756bb1', 'line-width': 1, 'line-dasharray': [3, 2]}},
    {id: 'streets', type: 'line', source: 'areas', 'source-layer': 'areas', filter: ['==', ['get', 'level'], 'street'],
      paint: {'line-color': '#54278f', 'line-width': 1.5}},
    {id: 'districts', type: 'line', source: 'areas', 'source-layer': 'areas', filter: ['==', ['get', 'level'], 'district'],
      paint: {'line-color': '#3f007d', 'line-width': 2.5}},
    {id: 'household-clusters', type: 'circle', source: 'households', 'source-layer': 'households',
      maxzoom: HOUSEHOLD_POINT_ZOOM, filter: ['has', 'households'], paint: {
        'circle-radius': ['interpolate', ['linear'], ['sqrt', ['get', 'households']], 1, 3, 40, 18],
        'circle-color': ['case', ['>', ['get', 'vulnerable'], 0], '#e6550d', '#3182bd'],
        'circle-opacity': 0.7,
      }},
    {id: 'households', type: 'circle', source: 'households', 'source-layer': 'households',
      minzoom: HOUSEHOLD_POINT_ZOOM, filter: ['!', ['has', 'households']], paint: {
        'circle-radius': ['interpolate', ['linear'], ['zoom'], 13, 2, 18, 6],
        'circle-color': ['case', ['>', ['get', 'vulnerable'], 0], '#e6550d', '#3182bd'],
        'circle-stroke-color': '#fff', 'circle-stroke-width': 0.5,
      }},
    {id: 'cases', type: 'circle', source: 'cases', 'source-layer': 'cases', paint: {
      'circle-radius': ['interpolate', ['linear'], ['zoom'], 8, 2.5, 16, 7],
      'circle-color': ['match', ['get', 'kind'], 'confirmed', '#b2182b', 'asymptomatic', '#ef8a62', '#fddbc7'],
      'circle-stroke-color': '#fff', 'circle-stroke-width': 1,
    }},
  ],
};

// The layer panel: one checkbox per group of style layers.
export const GROUPS = [
  {label: 'Districts and streets', layers: ['districts', 'streets']},
  {label: 'Communities', layers: ['communities']},
  {label: 'Grids', layers: ['grids']},
  {label: 'Households', layers: ['households', 'household-clusters']},
  {label: 'Cases', layers: ['cases']},
  {label: 'H3 heat (households)', layers: ['h3-heat'], id: 'h3'},
];

const OUR_LAYERS = GROUPS.flatMap((g) => g.layers);

function savedView() {
  try {
    const v = JSON.parse(localStorage.getItem(VIEW_KEY));
    if (Array.isArray(v.center) && typeof v.zoom === 'number') return v;
  } catch { /* no saved view */ }
  return null;
}

// fitJurisdiction frames the user's areas (the first few) unless a view was saved
// from an earlier visit; admin, with no areas, starts on the whole city.
export async function fitJurisdiction(map, areaIDs) {
  if (savedView() || areaIDs.length === 0) return;
  const bounds = new maplibregl.LngLatBounds();
  const features = await Promise.all(areaIDs.slice(0, 5).map((id) => request('GET', `/api/v1/areas/${id}`).catch(() => null)));
  for (const f of features) if (f?.geometry) extend(bounds, f.geometry.coordinates);
  if (!bounds.isEmpty()) map.fitBounds(bounds, {padding: 40, duration: 0});
}

// extend grows bounds by every position of a GeoJSON coordinate array, at any depth.
function extend(bounds, coords) {
  if (typeof coords[0] === 'number') bounds.extend(coords);
  else for (const c of coords) extend(bounds, c);
}

// createMap draws the map into container and resolves once its style has loaded.
export function createMap(container) {
  const map = new maplibregl.Map({container, style, ...(savedView() || SHANGHAI), maxZoom: 20});
  map.addControl(new maplibregl.NavigationControl({showCompass: false}), 'top-left');
  map.addControl(new maplibregl.ScaleControl(), 'bottom-right');
  map.on('moveend', () => {
    const c = map.getCenter();
    localStorage.setItem(VIEW_KEY, JSON.stringify({center: [c.lng, c.lat], zoom: map.getZoom()}));
  });
  map.on('click', (ev) => showPopup(map, ev));
  // A tile refused for want of a session: the login expired, so start over.
  map.on('error', (ev) => { if (ev.error?.status === 401) location.reload(); });
  for (const id of ['area-hit', 'households', 'household-clusters', 'cases']) {
    map.on('mouseenter', id, () => { map.getCanvas().style.cursor = 'pointer'; });
    map.on('mouseleave', id, () => { map.getCanvas().style.cursor = ''; });
  }
  return new Promise((resolve, reject) => {
    map.once('load', () => resolve(map));
    map.once('error', (ev) => { if (!map.loaded()) reject(ev.error); });
  });
}

// setGroupVisible shows or hides a panel group's layers.
export function setGroupVisible(map, group, visible) {
  for (const id of group.layers) map.setLayoutProperty(id, 'visibility', visible ? 'visible' : 'none');
}

// layersRendered counts the features each of our layers has drawn in the viewport,
// e.g. {streets: 10, households: 0, ...}: what a test (or a curious user) can assert.
export function layersRendered(map) {
  const out = {};
  for (const id of OUR_LAYERS) out[id] = map.queryRenderedFeatures({layers: [id]}).length;
  return out;
}

const LEVEL_DEPTH = {district: 0, street: 1, community: 2, grid: 3};

function showPopup(map, ev) {
  const hits = map.queryRenderedFeatures(ev.point, {layers: ['cases', 'households', 'household-clusters', 'area-hit']});
  if (hits.length === 0) return;
  // A point feature wins; among areas, the finest one.
  const point = hits.find((f) => f.layer.id !== 'area-hit');
  const area = hits.filter((f) => f.layer.id === 'area-hit')
    .sort((a, b) => LEVEL_DEPTH[b.properties.level] - LEVEL_DEPTH[a.properties.level])[0];
  const f = point || area;
  const rows = Object.entries(f.properties).map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(v)}</td></tr>`);
  new maplibregl.Popup({maxWidth: '280px'}).setLngLat(ev.lngLat)
    .setHTML(`<strong>${esc(point ? f.layer.id : f.properties.name)}</strong><table>${rows.join('')}</table>`)
    .addTo(map);
}

function esc(v) {
  return String(v).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

// h3Resolution picks cells a few dozen pixels across at zoom z (res 7 at z10),
// staying within the server's 5..12 and below its fine-resolution box limit (res 10).
export function h3Resolution(z) {
  return Math.max(5, Math.min(9, Math.round(z) - 3));
}

// startHeat keeps the H3 heat layer in step with the viewport. When a request fails
// the layer is emptied for that view; when the server has no such endpoint (404) or
// answers something other than GeoJSON, onUnavailable is called and it stops asking.
export function startHeat(map, onUnavailable) {
  let seq = 0;
  let gone = false;
  const empty = {type: 'FeatureCollection', features: []};
  async function refresh() {
    if (gone || map.getLayoutProperty('h3-heat', 'visibility') === 'none') return;
    const b = map.getBounds();
    const bbox = [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map((v) => v.toFixed(5)).join(',');
    const mine = ++seq;
    try {
      const res = await fetch(`/api/v1/h3?res=${h3Resolution(map.getZoom())}&bbox=${bbox}&metric=households`,
        {credentials: 'same-origin'});
      if (res.status === 404) throw Object.assign(new Error('no H3 endpoint'), {permanent: true});
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      const fc = await res.json();
      if (!fc || fc.type !== 'FeatureCollection') throw Object.assign(new Error('not GeoJSON'), {permanent: true});
      if (mine === seq) map.getSource('h3').setData(normalizeHeat(fc)); // else a newer view is on its way
    } catch (err) {
      if (mine === seq) map.getSource('h3').setData(empty);
      if (err.permanent) {
        gone = true;
        map.setLayoutProperty('h3-heat', 'visibility', 'none');
        onUnavailable(err);
      }
    }
  }
  map.on('moveend', refresh);
  refresh();
  return refresh;
}

// normalizeHeat scales each cell's value to 0..1 of the viewport's maximum, so the
// colours read the same at every resolution.
function normalizeHeat(fc) {
  const value = (f) => Number(f.properties?.count ?? 0);
  const max = Math.max(1, ...fc.features.map(value));
  for (const f of fc.features) f.properties = {...f.properties, heat: value(f) / max};
  return fc;
}
