// The live feed: one EventSource on /api/events/stream. Pages subscribe with onChange(fn);
// fn gets a change ({workflowId, status, tasks...}) or {resync: true} when changes may have
// been missed (the stream lagged or reconnected), so it re-reads what it shows.
//
// Tabs of one browser share one stream: a browser allows few HTTP/1.1 connections per
// origin, and operators keep many tabs open. The tab holding the Web Lock 'baton-live'
// reads the stream and relays it to the others over a BroadcastChannel; when it closes, the
// lock passes to another tab, which opens the stream. Where these APIs are missing (plain
// http to another host is not a secure context), each tab reads its own stream.

const listeners = new Set();
const LOCK = 'baton-live';
let started = false;
let channel = null;
let state = 'down';
// A page in a background tab re-reads nothing; it catches up once when shown again.
let missedWhileHidden = false;

function indicator(next) {
  state = next;
  const el = document.getElementById('live');
  if (!el) return;
  el.dataset.state = next;
  el.textContent = next === 'live' ? 'live' : 'reconnecting…';
  el.title = next === 'live' ? 'Receiving changes as they are committed' : 'Lost the live feed; retrying';
}

function deliver(change) {
  if (document.hidden) {
    missedWhileHidden = true;
    return;
  }
  for (const fn of [...listeners]) {
    try { fn(change); } catch (e) { console.error(e); }
  }
}

/** Delivers here and, when this tab reads the stream for others, relays. */
function publish(message) {
  if (channel) channel.postMessage(message);
  receive(message);
}

function receive(message) {
  if (message.kind === 'state') indicator(message.state);
  else if (message.kind === 'change') deliver(message.change);
  else if (message.kind === 'resync') deliver({ resync: true });
}

/** Reads the stream; `catchUp`: resync on the first 'ready' too (another tab read before). */
function openStream(catchUp) {
  const source = new EventSource('/api/events/stream');
  let connected = false;
  source.addEventListener('ready', () => {
    if (connected || catchUp) publish({ kind: 'resync' });
    connected = true;
    publish({ kind: 'state', state: 'live' });
  });
  source.addEventListener('change', (e) => {
    try { publish({ kind: 'change', change: JSON.parse(e.data) }); } catch (err) { console.error(err); }
  });
  source.addEventListener('resync', () => publish({ kind: 'resync' }));
  source.addEventListener('error', () => publish({ kind: 'state', state: 'down' }));
}

export function start() {
  if (started) return;
  started = true;
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden && missedWhileHidden) {
      missedWhileHidden = false;
      deliver({ resync: true });
    }
  });
  if (!('BroadcastChannel' in window) || !navigator.locks) {
    openStream(false);
    return;
  }
  channel = new BroadcastChannel(LOCK);
  let leading = false;
  channel.onmessage = (e) => {
    if (e.data?.kind === 'hello') {
      if (leading) channel.postMessage({ kind: 'state', state });
    } else {
      receive(e.data);
    }
  };
  channel.postMessage({ kind: 'hello' });
  const lead = (catchUp) => {
    leading = true;
    openStream(catchUp);
    // Held for the life of this tab.
    return new Promise(() => {});
  };
  navigator.locks.request(LOCK, { ifAvailable: true }, (lock) => {
    if (lock) return lead(false);
    // Another tab reads the stream; take over (and catch up) when it closes.
    navigator.locks.request(LOCK, () => lead(true));
    return undefined;
  });
}

/** Subscribes; answers the unsubscribe function. */
export function onChange(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}
