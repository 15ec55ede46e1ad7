// Small DOM helpers. Text always goes in as text nodes (never innerHTML), so nothing from
// the server can become markup.

const SVG_NS = 'http://www.w3.org/2000/svg';

function build(el, attrs, children) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'text') el.textContent = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** An HTML element: h('a', {href: '#/x', class: 'y'}, 'text', child, [more]). */
export function h(tag, attrs, ...children) {
  return build(document.createElement(tag), attrs, children);
}

/** An SVG element. */
export function s(tag, attrs, ...children) {
  return build(document.createElementNS(SVG_NS, tag), attrs, children);
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

const pad = (n) => String(n).padStart(2, '0');

/** Epoch ms as local "YYYY-MM-DD HH:MM:SS", or an empty string for 0. */
export function fmtTime(ms) {
  if (!ms) return '';
  const d = new Date(typeof ms === 'string' ? Date.parse(ms) : ms);
  if (Number.isNaN(d.getTime())) return '';
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** A duration in ms, short: 850 ms, 4.2 s, 3 m 10 s, 2 h 5 m, 3 d 4 h. */
export function fmtDuration(ms) {
  if (ms === undefined || ms === null || ms < 0) return '';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const sec = ms / 1000;
  if (sec < 60) return `${sec.toFixed(sec < 10 ? 1 : 0)} s`;
  const m = Math.floor(sec / 60), r = Math.floor(sec % 60);
  if (m < 60) return `${m} m ${r} s`;
  const hr = Math.floor(m / 60);
  if (hr < 48) return `${hr} h ${m % 60} m`;
  return `${Math.floor(hr / 24)} d ${hr % 24} h`;
}

export function ago(ms) {
  if (!ms) return '';
  const t = typeof ms === 'string' ? Date.parse(ms) : ms;
  return `${fmtDuration(Date.now() - t)} ago`;
}

/** A status as a coloured badge (colour from the stylesheet, never from the server). */
export function badge(status) {
  return h('span', { class: `badge st-${String(status || 'UNKNOWN').replace(/[^A-Z_]/g, '')}` }, status || '?');
}

export function link(href, text, attrs = {}) {
  return h('a', { href, ...attrs }, text);
}

/** A loading or error note in `el`. */
export function note(el, text, kind = 'muted') {
  fill(el, h('p', { class: kind, role: kind === 'error' ? 'alert' : undefined }, text));
}

/** Calls `fn` at most once per `ms` (a number, or a function answering one), the last call
 * winning; for live refreshes. */
export function throttle(fn, ms) {
  let timer = null, pending = false, last = 0;
  const run = () => {
    timer = null;
    pending = false;
    last = Date.now();
    fn();
  };
  const t = () => {
    if (timer) { pending = true; return; }
    const wait = Math.max(0, last + (typeof ms === 'function' ? ms() : ms) - Date.now());
    timer = setTimeout(run, wait);
  };
  t.cancel = () => { if (timer) clearTimeout(timer); timer = null; pending = false; };
  return t;
}

/** Tabs: [{id, label, render(panel)}]; the selected one is kept in `state.tab`. */
export function tabs(items, selected, onSelect) {
  const list = h('div', { class: 'tabs', role: 'tablist' });
  const panel = h('div', { class: 'tabpanel', role: 'tabpanel' });
  const buttons = items.map((it) => h('button', {
    role: 'tab', id: `tab-${it.id}`, 'aria-selected': String(it.id === selected),
    'aria-controls': 'tabpanel', tabindex: it.id === selected ? '0' : '-1',
    onclick: () => onSelect(it.id),
    onkeydown: (e) => {
      const i = items.findIndex((x) => x.id === it.id);
      const next = e.key === 'ArrowRight' ? items[(i + 1) % items.length]
        : e.key === 'ArrowLeft' ? items[(i + items.length - 1) % items.length] : null;
      if (next) { e.preventDefault(); onSelect(next.id); document.getElementById(`tab-${next.id}`)?.focus(); }
    },
  }, it.label));
  list.append(...buttons);
  panel.setAttribute('aria-labelledby', `tab-${selected}`);
  panel.id = 'tabpanel';
  const current = items.find((it) => it.id === selected) || items[0];
  current.render(panel);
  return [list, panel];
}

/** Replaces the children of `el` (null and false children are skipped). */
export function fill(el, ...children) {
  return append(clear(el), children);
}
