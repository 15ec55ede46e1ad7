// The live feed: one stream of server-sent events from /api/events/stream, read with fetch
// rather than EventSource because EventSource cannot send the X-Authorization header (a
// token in the URL would end up in logs; ADR 18). Pages subscribe with onChange(fn);
// fn gets a change ({workflowId, status, tasks...}) or {resync: true} when changes may have
// been missed (the stream lagged or reconnected), so it re-reads what it shows.
//
// Tabs of one browser share one stream: a browser allows few HTTP/1.1 connections per
// origin, and operators keep many tabs open. The tab holding the Web Lock 'baton-live'
// reads the stream and relays it to the others over a BroadcastChannel; when it closes, the
// lock passes to another tab, which opens the stream. Where these APIs are missing (plain
// http to another host is not a secure context), each tab reads its own stream. A tab that
// is signed out (its token expired) stops reading and lets another tab lead.

import { authHeaders, expired, onSignedOut } from './session.js';

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
  const text = { live: 'live', off: 'signed out', down: 'reconnecting…' };
  const title = { live: 'Receiving changes as they are committed', off: 'Sign in to receive changes', down: 'Lost the live feed; retrying' };
  el.textContent = text[next] || text.down;
  el.title = title[next] || title.down;
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

/** Calls `onEvent(name, data)` for each event of one response body until it ends. */
async function readEvents(body, onEvent) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += value.replace(/\r/g, '');
    let end;
    while ((end = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, end);
      buf = buf.slice(end + 2);
      let name = 'message';
      const data = [];
      for (const line of block.split('\n')) {
        if (line.startsWith('event:')) name = line.slice(6).trim();
        else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
      }
      // Blocks of comments only are keep-alives.
      if (block.split('\n').some((l) => l && !l.startsWith(':'))) onEvent(name, data.join('\n'));
    }
  }
}

let reading = null; // the AbortController of the stream this tab reads, if any

/** Reads the stream until signed out, reconnecting after a drop (1 s, doubling to 15 s).
 * `catchUp`: resync on the first 'ready' too (another tab read before). Resolves when this
 * tab stops reading (signed out), so the lock passes on. */
async function openStream(catchUp) {
  const ctl = new AbortController();
  reading = ctl;
  let connected = false;
  let wait = 1000;
  while (!ctl.signal.aborted) {
    try {
      const res = await fetch('/api/events/stream', {
        headers: { Accept: 'text/event-stream', ...authHeaders() }, cache: 'no-store', signal: ctl.signal,
      });
      if (res.status === 401) {
        publish({ kind: 'state', state: 'down' });
        expired();
        break;
      }
      if (!res.ok || !res.body) throw new Error(`${res.status}`);
      await readEvents(res.body, (name, data) => {
        if (name === 'ready') {
          if (connected || catchUp) publish({ kind: 'resync' });
          connected = true;
          wait = 1000;
          publish({ kind: 'state', state: 'live' });
        } else if (name === 'change') {
          try { publish({ kind: 'change', change: JSON.parse(data) }); } catch (err) { console.error(err); }
        } else if (name === 'resync') {
          publish({ kind: 'resync' });
        }
      });
    } catch (e) {
      if (ctl.signal.aborted) break;
    }
    publish({ kind: 'state', state: 'down' });
    await new Promise((r) => { setTimeout(r, wait); });
    wait = Math.min(wait * 2, 15000);
  }
  if (reading === ctl) reading = null;
}

let hooked = false;
let leading = false;
let waiting = null; // aborts this tab's wait for the lock

/** Stops reading and waiting (signed out); the shell calls `start()` after signing in. */
export function stop() {
  if (reading) reading.abort();
  if (waiting) waiting.abort();
  reading = null;
  waiting = null;
  started = false;
  indicator('off');
}

export function start() {
  if (started) return;
  started = true;
  if (!hooked) {
    hooked = true;
    onSignedOut(stop);
    document.addEventListener('visibilitychange', () => {
      if (!document.hidden && missedWhileHidden) {
        missedWhileHidden = false;
        deliver({ resync: true });
      }
    });
  }
  if (!('BroadcastChannel' in window) || !navigator.locks) {
    openStream(false);
    return;
  }
  if (!channel) {
    channel = new BroadcastChannel(LOCK);
    channel.onmessage = (e) => {
      if (e.data?.kind === 'hello') {
        if (leading) channel.postMessage({ kind: 'state', state });
      } else {
        receive(e.data);
      }
    };
  }
  channel.postMessage({ kind: 'hello' });
  waiting = new AbortController();
  const { signal } = waiting;
  // The lock is held while this tab reads: until it closes or signs out.
  const lead = async (catchUp) => {
    leading = true;
    try { await openStream(catchUp); } finally { leading = false; }
  };
  navigator.locks.request(LOCK, { ifAvailable: true }, (lock) => {
    if (lock) return lead(false);
    // Another tab reads the stream; take over (and catch up) when it stops.
    navigator.locks.request(LOCK, { signal }, () => lead(true)).catch(() => {});
    return undefined;
  });
}

/** Subscribes; answers the unsubscribe function. */
export function onChange(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}
