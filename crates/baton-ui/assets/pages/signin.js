// Sign in with an API key id and secret (shown when the server has authentication on and
// this tab has no valid token). The secret goes to POST /api/token and is not kept.

import { h, clear } from '../dom.js';
import { signIn } from '../session.js';

export function render(main, { reason = '' } = {}) {
  clear(main);
  const keyId = h('input', { id: 'key-id', name: 'keyId', type: 'text', autocomplete: 'username', required: true, spellcheck: 'false' });
  const secret = h('input', { id: 'key-secret', name: 'keySecret', type: 'password', autocomplete: 'current-password', required: true });
  const error = h('p', { id: 'signin-error', class: 'error', role: 'alert' });
  const submit = h('button', { type: 'submit', class: 'primary', id: 'signin-submit' }, 'Sign in');
  const form = h('form', { class: 'signin', 'aria-label': 'Sign in' },
    h('h1', {}, 'Sign in'),
    reason ? h('p', { id: 'signin-reason' }, reason) : null,
    h('p', { class: 'muted' }, 'This server needs an API key. Ask an administrator for one (',
      h('code', {}, 'baton keys create'), ').'),
    h('div', { class: 'field' }, h('label', { for: 'key-id' }, 'Key id'), keyId),
    h('div', { class: 'field' }, h('label', { for: 'key-secret' }, 'Key secret'), secret),
    h('div', { class: 'row' }, submit),
    error);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    error.textContent = '';
    submit.disabled = true;
    try {
      await signIn(keyId.value.trim(), secret.value);
    } catch (err) {
      error.textContent = err.message;
      secret.value = '';
      secret.focus();
    } finally {
      submit.disabled = false;
    }
  });
  main.append(form);
  keyId.focus();
}
