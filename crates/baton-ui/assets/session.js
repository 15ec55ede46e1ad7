// Who is using the UI. When the server has authentication on, the UI signs in with a key id
// and secret (POST /api/token, as the SDKs do), keeps the token for this tab only
// (sessionStorage: closing the tab signs out) and sends it as X-Authorization. The secret is
// never stored. GET /api/token/whoami tells the caller's role, and the pages show only the
// actions that role may take.

const TOKEN = 'baton-token';
let token = sessionStorage.getItem(TOKEN);
// {authentication: false} or {authentication: true, keyId, role, taskTypes, expiresAt}
let me = null;
const signedInListeners = new Set();
const signedOutListeners = new Set();

/** Headers that authenticate a request (none when signed out or auth is off). */
export function authHeaders() {
  return token ? { 'X-Authorization': token } : {};
}

export function authenticationOn() {
  return !!me?.authentication;
}

export function who() {
  return me;
}

/** Whether the caller may do what needs `need`: 'operate' (start and manage workflows,
 * schedules, complete tasks) or 'admin' (definitions, event handlers). */
export function may(need) {
  if (!me || !me.authentication) return true;
  if (me.role === 'admin') return true;
  return need === 'operate' && me.role === 'operator';
}

async function askWhoami() {
  const res = await fetch('/api/token/whoami', { headers: { Accept: 'application/json', ...authHeaders() } });
  if (res.status === 401) return null;
  if (!res.ok) throw new Error(`${res.status}: could not ask the server who is signed in`);
  return res.json();
}

/** Finds out whether sign-in is needed: answers true when the UI may start. */
export async function init() {
  me = await askWhoami();
  if (!me) forget();
  return me !== null;
}

function forget() {
  token = null;
  me = null;
  sessionStorage.removeItem(TOKEN);
}

/** Signs in; throws an Error with the server's message when refused. */
export async function signIn(keyId, keySecret) {
  let res;
  try {
    res = await fetch('/api/token', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify({ keyId, keySecret }),
    });
  } catch (e) {
    throw new Error(`the server did not answer (${e.message})`);
  }
  const body = await res.json().catch(() => null);
  if (!res.ok) {
    const message = body?.message || res.statusText;
    throw new Error(res.status === 401 ? `Wrong key id or secret (${message})` : `${res.status}: ${message}`);
  }
  token = body.token;
  sessionStorage.setItem(TOKEN, token);
  me = await askWhoami();
  if (!me) {
    forget();
    throw new Error('the server refused the new token');
  }
  for (const fn of [...signedInListeners]) fn();
}

/** Signs out (`reason`: shown on the sign-in form, e.g. an expired session). */
export function signOut(reason = '') {
  forget();
  for (const fn of [...signedOutListeners]) fn(reason);
}

/** The server answered 401 to a signed-in request: the token expired or its key was revoked. */
export function expired() {
  if (token || authenticationOn()) signOut('Your session ended (the token expired or the key was revoked); sign in again.');
}

export function onSignedIn(fn) { signedInListeners.add(fn); }
export function onSignedOut(fn) { signedOutListeners.add(fn); }
