// One definition: its diagram, its JSON (highlighted, validation errors at their place, an
// editor that validates and saves through the metadata API), and a form to start a run.

import { h, clear, note, tabs, fill } from '../dom.js';
import { api, get, enc } from '../api.js';
import { announce } from '../dialogs.js';
import { jsonView } from '../json.js';
import { diagram } from '../diagram.js';
import { setParams } from '../route.js';
import { may } from '../session.js';

function parseValue(text) {
  const t = text.trim();
  if (t === '') return undefined;
  try { return JSON.parse(t); } catch { return text; }
}

function runForm(def) {
  const fields = (def.inputParameters || []).map((name) => {
    const input = h('input', { id: `in-${name}`, name, type: 'text', autocomplete: 'off' });
    return { name, input, el: h('div', { class: 'field' }, h('label', { for: `in-${name}` }, name), input) };
  });
  const extra = h('textarea', { id: 'in-json', rows: 6, class: 'code', spellcheck: 'false' });
  extra.value = '{}';
  const corr = h('input', { id: 'in-corr', type: 'text', autocomplete: 'off' });
  const answer = h('div', { 'aria-live': 'polite' });
  const form = h('form', { class: 'run-form', 'aria-label': `Start ${def.name}` },
    h('p', { class: 'muted' }, 'Each value is read as JSON when it parses (42, true, {"a": 1}) and as text otherwise.'),
    fields.map((f) => f.el),
    h('div', { class: 'field' }, h('label', { for: 'in-json' }, 'More input (JSON object, merged under the fields above)'), extra),
    h('div', { class: 'field' }, h('label', { for: 'in-corr' }, 'Correlation id'), corr),
    h('div', { class: 'row' }, h('button', { type: 'submit', class: 'primary', id: 'start-run' }, `Start ${def.name} v${def.version}`)),
    answer);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    let input;
    try {
      input = extra.value.trim() ? JSON.parse(extra.value) : {};
      if (typeof input !== 'object' || Array.isArray(input) || input === null) throw new Error('must be an object');
    } catch (err) {
      note(answer, `More input: not a JSON object (${err.message})`, 'error');
      return;
    }
    for (const f of fields) {
      const v = parseValue(f.input.value);
      if (v !== undefined) input[f.name] = v;
    }
    try {
      const id = await api('POST', '/workflow', { name: def.name, version: def.version, input, correlationId: corr.value.trim() || undefined });
      announce(`Started ${def.name}: ${id}`);
      location.hash = `#/execution/${enc(id)}`;
    } catch (err) {
      note(answer, `The server refused: ${err.message}`, 'error');
    }
  });
  return form;
}

function editor(def, onSaved) {
  const area = h('textarea', { id: 'def-editor', class: 'code editor', rows: 24, spellcheck: 'false', 'aria-label': 'Definition JSON' });
  area.value = JSON.stringify(def, null, 2);
  const result = h('div', { id: 'validation', 'aria-live': 'polite' });
  const parse = () => {
    try { return JSON.parse(area.value); } catch (e) {
      note(result, `Not valid JSON: ${e.message}`, 'error');
      return null;
    }
  };
  const showErrors = (value, err) => {
    const errors = err.body?.validationErrors || [];
    fill(result, h('p', { class: 'error', role: 'alert' }, err.message),
      errors.length ? h('ul', {}, errors.map((x) => h('li', {}, h('code', {}, x.path), `: ${x.message}`))) : null,
      errors.length ? jsonView(value, errors) : null);
  };
  const validate = async () => {
    const value = parse();
    if (!value) return;
    try {
      await api('POST', '/metadata/workflow/validate', value);
      note(result, 'Valid.', 'ok');
    } catch (err) { showErrors(value, err); }
  };
  const save = async () => {
    const value = parse();
    if (!value) return;
    try {
      await api('PUT', '/metadata/workflow', [value]);
      announce(`Saved ${value.name} v${value.version}`);
      onSaved(value);
    } catch (err) { showErrors(value, err); }
  };
  return h('div', {},
    h('div', { class: 'row' },
      h('button', { type: 'button', id: 'validate', onclick: validate }, 'Validate'),
      h('button', { type: 'button', class: 'primary', id: 'save', onclick: save }, 'Save (overwrites this version)')),
    area, result);
}

export function render(main, { args, params }) {
  const name = args[0];
  const version = params.get('version');
  let tab = params.get('tab') || 'diagram';
  const root = h('div', {});
  main.append(root);
  note(root, 'Loading…');
  let def = null;
  const draw = () => {
    const [list, panel] = tabs([
      { id: 'diagram', label: 'Diagram', render: (p) => p.append(diagram(def, { linkSub: (n) => (n.subWorkflowParam?.name ? `#/definitions/${enc(n.subWorkflowParam.name)}${n.subWorkflowParam.version ? `?version=${n.subWorkflowParam.version}` : ''}` : null) })) },
      { id: 'json', label: 'JSON', render: (p) => p.append(jsonView(def)) },
      // Editing needs an admin key, running an operator's; other roles do not see the tabs.
      may('admin') ? { id: 'edit', label: 'Edit', render: (p) => p.append(editor(def, (v) => { def = v; tab = 'json'; setParams({ tab }); draw(); })) } : null,
      may('operate') ? { id: 'run', label: 'Run', render: (p) => p.append(runForm(def)) } : null,
    ].filter(Boolean), tab, (t) => { tab = t; setParams({ tab: t }); draw(); });
    fill(root, 
      h('div', { class: 'title-row' }, h('h1', {}, `${def.name} `, h('span', { class: 'muted' }, `v${def.version}`)),
        h('a', { href: `#/executions?type=${enc(def.name)}` }, 'executions →')),
      def.description ? h('p', {}, def.description) : null,
      list, panel);
  };
  get(`/metadata/workflow/${enc(name)}${version ? `?version=${enc(version)}` : ''}`)
    .then((d) => { def = d; draw(); })
    .catch((e) => note(root, `Could not load ${name}: ${e.message}`, 'error'));
}
