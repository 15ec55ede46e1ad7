// The route lives in the location hash: #/path?query.

/** The current route: path parts and query parameters of the hash. */
export function current() {
  const raw = location.hash.replace(/^#/, '') || '/';
  const [path, query = ''] = raw.split('?');
  return { path, params: new URLSearchParams(query) };
}

/** Changes query parameters of the current route (replacing history, no re-render). */
export function setParams(changes) {
  const { path, params } = current();
  for (const [k, v] of Object.entries(changes)) {
    if (v === null || v === undefined || v === '') params.delete(k);
    else params.set(k, String(v));
  }
  const q = params.toString();
  history.replaceState(null, '', `#${path}${q ? `?${q}` : ''}`);
}
