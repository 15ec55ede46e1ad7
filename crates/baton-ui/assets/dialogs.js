// Confirmation dialogs (native <dialog>: focus trap, Escape closes) and an aria-live area
// for the server's answers.

import { h } from './dom.js';

/**
 * Asks to confirm `title`; `fields` are optional inputs ({name, label, type: 'text' |
 * 'json' | 'checkbox', value}). Resolves to the field values, or null when cancelled.
 */
export function confirmAction({ title, message, confirmLabel = 'Confirm', danger = false, fields = [] }) {
  return new Promise((resolve) => {
    const inputs = {};
    const error = h('p', { class: 'error', role: 'alert' });
    const body = fields.map((f) => {
      const id = `f-${f.name}`;
      let input;
      if (f.type === 'json') {
        input = h('textarea', { id, rows: 6, spellcheck: 'false', class: 'code' });
        input.value = f.value ?? '{}';
      } else if (f.type === 'checkbox') {
        input = h('input', { id, type: 'checkbox' });
        input.checked = !!f.value;
      } else {
        input = h('input', { id, type: 'text' });
        input.value = f.value ?? '';
      }
      inputs[f.name] = [f, input];
      return f.type === 'checkbox'
        ? h('p', {}, input, ' ', h('label', { for: id }, f.label))
        : h('p', {}, h('label', { for: id }, f.label), input);
    });
    const dialog = h('dialog', { class: 'confirm', 'aria-labelledby': 'dlg-title' },
      h('form', { method: 'dialog' },
        h('h2', { id: 'dlg-title' }, title),
        message ? h('p', {}, message) : null,
        body,
        error,
        h('div', { class: 'row end' },
          h('button', { value: 'cancel', type: 'submit', formnovalidate: true }, 'Cancel'),
          h('button', { value: 'ok', type: 'submit', class: danger ? 'danger' : 'primary', id: 'dlg-ok' }, confirmLabel))));
    let values = null;
    dialog.querySelector('form').addEventListener('submit', (e) => {
      if (e.submitter?.value !== 'ok') return;
      const out = {};
      for (const [name, [f, input]] of Object.entries(inputs)) {
        if (f.type === 'json') {
          try {
            out[name] = input.value.trim() ? JSON.parse(input.value) : {};
          } catch (err) {
            e.preventDefault();
            error.textContent = `${f.label}: not valid JSON (${err.message})`;
            return;
          }
        } else if (f.type === 'checkbox') out[name] = input.checked;
        else out[name] = input.value;
      }
      values = out;
    });
    dialog.addEventListener('close', () => {
      dialog.remove();
      resolve(dialog.returnValue === 'ok' ? values : null);
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}

/** Shows the server's answer in the status area (read out by screen readers). */
export function announce(text, kind = 'ok') {
  const area = document.getElementById('announce');
  if (!area) return;
  const item = h('div', { class: `toast ${kind}`, role: kind === 'error' ? 'alert' : 'status' }, text,
    h('button', { class: 'close', 'aria-label': 'Dismiss', onclick: () => item.remove() }, '×'));
  area.append(item);
  setTimeout(() => item.remove(), kind === 'error' ? 15000 : 6000);
}

/** Runs an API action after confirmation and announces the server's answer. Resolves to
 * true when it succeeded. */
export async function act(options, run) {
  const values = await confirmAction(options);
  if (!values) return false;
  try {
    const answer = await run(values);
    const text = typeof answer === 'string' && answer ? `: ${answer}` : '';
    announce(`${options.title}: done${text}`);
    return true;
  } catch (e) {
    announce(`${options.title} failed: ${e.message}`, 'error');
    return false;
  }
}
