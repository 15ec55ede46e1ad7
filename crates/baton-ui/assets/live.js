// The live feed: one EventSource on /api/events/stream for the whole page. Pages subscribe
// with onChange(fn); fn gets a change ({workflowId, status, tasks...}) or {resync: true}
// when changes may have been missed (the stream lagged or reconnected), so it re-reads.

const listeners = new Set();
let source = null;
let connected = false;

function indicator(state) {
  const el = document.getElementById('live');
  if (!el) return;
  el.dataset.state = state;
  el.textContent = state === 'live' ? 'live' : 'reconnecting…';
  el.title = state === 'live' ? 'Receiving changes as they are committed' : 'Lost the live feed; retrying';
}

// A page in a background tab re-reads nothing; it catches up once when shown again.
let missedWhileHidden = false;

function emit(change) {
  if (document.hidden) {
    missedWhileHidden = true;
    return;
  }
  for (const fn of [...listeners]) {
    try { fn(change); } catch (e) { console.error(e); }
  }
}

export function start() {
  if (source) return;
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden && missedWhileHidden) {
      missedWhileHidden = false;
      emit({ resync: true });
    }
  });
  source = new EventSource('/api/events/stream');
  source.addEventListener('ready', () => {
    // After a reconnect, whatever happened meanwhile was missed.
    if (connected) emit({ resync: true });
    connected = true;
    indicator('live');
  });
  source.addEventListener('change', (e) => {
    try { emit(JSON.parse(e.data)); } catch (err) { console.error(err); }
  });
  source.addEventListener('resync', () => emit({ resync: true }));
  source.addEventListener('error', () => indicator('down'));
}

/** Subscribes; answers the unsubscribe function. */
export function onChange(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}
