// The shell: hash routes to pages, theme, keyboard shortcuts, the live feed.

import { h, clear } from './dom.js';
import * as live from './live.js';
import * as session from './session.js';
import * as signin from './pages/signin.js';
import { confirmAction } from './dialogs.js';
import { current } from './route.js';
import * as home from './pages/home.js';
import * as executions from './pages/executions.js';
import * as execution from './pages/execution.js';
import * as definitions from './pages/definitions.js';
import * as definition from './pages/definition.js';
import * as queues from './pages/queues.js';
import * as schedules from './pages/schedules.js';
import * as handlers from './pages/handlers.js';

const routes = [
  [/^\/?$/, home, 'home'],
  [/^\/executions$/, executions, 'executions'],
  [/^\/execution\/([^/]+)$/, execution, 'executions'],
  [/^\/definitions$/, definitions, 'definitions'],
  [/^\/definitions\/([^/]+)$/, definition, 'definitions'],
  [/^\/queues$/, queues, 'queues'],
  [/^\/schedules$/, schedules, 'schedules'],
  [/^\/handlers$/, handlers, 'handlers'],
];

let cleanup = null;
let lastPath = null;
// While the sign-in form shows, navigating renders nothing else.
let signingIn = false;

function leavePage() {
  if (cleanup) { try { cleanup(); } catch (e) { console.error(e); } }
  cleanup = null;
}

function render() {
  if (signingIn) return;
  const { path, params } = current();
  const main = document.getElementById('main');
  const samePage = path === lastPath;
  leavePage();
  clear(main);
  for (const [re, page, nav] of routes) {
    const m = path.match(re);
    if (!m) continue;
    for (const a of document.querySelectorAll('[data-nav]')) {
      if (a.dataset.nav === nav) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    }
    cleanup = page.render(main, { args: m.slice(1).map(decodeURIComponent), params }) || null;
    lastPath = path;
    if (!samePage) main.focus({ preventScroll: true });
    return;
  }
  main.append(h('h1', {}, 'Not found'), h('p', {}, 'No page at ', h('code', {}, path), '. ', h('a', { href: '#/' }, 'Home')));
}

function applyTheme(theme) {
  if (theme === 'dark' || theme === 'light') document.documentElement.dataset.theme = theme;
  else delete document.documentElement.dataset.theme;
}

function toggleTheme() {
  const dark = document.documentElement.dataset.theme
    ? document.documentElement.dataset.theme === 'dark'
    : matchMedia('(prefers-color-scheme: dark)').matches;
  const next = dark ? 'light' : 'dark';
  localStorage.setItem('baton-theme', next);
  applyTheme(next);
}

const SHORTCUTS = [
  ['g h', 'home'], ['g e', 'executions'], ['g d', 'definitions'], ['g q', 'queues'],
  ['g s', 'schedules'], ['g v', 'event handlers'], ['/', 'search (on lists)'],
  ['j / k', 'next / previous row'], ['Enter', 'open the row'], ['t', 'light / dark theme'], ['?', 'this help'],
];

function showHelp() {
  confirmAction({
    title: 'Keyboard shortcuts',
    message: SHORTCUTS.map(([k, v]) => `${k}: ${v}`).join(' · '),
    confirmLabel: 'Close',
  });
}

let pendingG = false;
function onKey(e) {
  if (e.ctrlKey || e.metaKey || e.altKey) return;
  const tag = (e.target.tagName || '').toLowerCase();
  if (['input', 'textarea', 'select'].includes(tag) || e.target.isContentEditable || document.querySelector('dialog[open]')) return;
  const go = { h: '#/', e: '#/executions', d: '#/definitions', q: '#/queues', s: '#/schedules', v: '#/handlers' };
  if (pendingG) {
    pendingG = false;
    if (go[e.key]) { e.preventDefault(); location.hash = go[e.key]; }
    return;
  }
  if (e.key === 'g') { pendingG = true; setTimeout(() => { pendingG = false; }, 1200); return; }
  if (e.key === 't') toggleTheme();
  else if (e.key === '?') showHelp();
  else if (e.key === '/') {
    const search = document.querySelector('[data-search]');
    if (search) { e.preventDefault(); search.focus(); }
  } else if (e.key === 'j' || e.key === 'k') {
    const rows = [...document.querySelectorAll('[data-row-link]')];
    if (!rows.length) return;
    const i = rows.indexOf(document.activeElement);
    const next = rows[e.key === 'j' ? Math.min(rows.length - 1, i + 1) : Math.max(0, i - 1)];
    next.focus();
    e.preventDefault();
  }
}

/** The header's "signed in as" and sign-out button, shown only with authentication on. */
function showWho() {
  const me = session.who();
  const who = document.getElementById('who');
  const out = document.getElementById('signout');
  const on = !!me?.authentication;
  who.hidden = !on;
  out.hidden = !on;
  who.textContent = on ? `${me.role} · ${me.keyId.slice(0, 8)}` : '';
  who.title = on ? `Signed in with key ${me.keyId} (role ${me.role})` : '';
  document.body.dataset.role = on ? me.role : 'open';
}

function showSignIn(reason) {
  signingIn = true;
  live.stop();
  leavePage();
  lastPath = null;
  showWho();
  signin.render(document.getElementById('main'), { reason });
}

session.onSignedIn(() => {
  signingIn = false;
  showWho();
  live.start();
  render();
});
session.onSignedOut((reason) => showSignIn(reason));

async function boot() {
  let ready;
  try {
    ready = await session.init();
  } catch (e) {
    const main = document.getElementById('main');
    clear(main);
    main.append(h('h1', {}, 'Baton is not answering'), h('p', { class: 'error' }, e.message));
    return;
  }
  if (!ready) {
    showSignIn('');
    return;
  }
  showWho();
  live.start();
  render();
}

applyTheme(localStorage.getItem('baton-theme'));
document.getElementById('theme').addEventListener('click', toggleTheme);
document.getElementById('help').addEventListener('click', showHelp);
document.getElementById('signout').addEventListener('click', () => session.signOut(''));
document.addEventListener('keydown', onKey);
window.addEventListener('hashchange', render);
boot();
