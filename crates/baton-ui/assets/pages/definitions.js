// Definitions: every workflow definition by name, with its versions.

import { h, clear, note, fmtTime, fill } from '../dom.js';
import { get, enc } from '../api.js';

export function render(main) {
  const filter = h('input', { id: 'def-filter', type: 'search', 'data-search': true, placeholder: 'filter by name (/)', autocomplete: 'off' });
  const list = h('div', { id: 'def-list' });
  main.append(h('h1', {}, 'Definitions'),
    h('div', { class: 'row' }, h('label', { for: 'def-filter' }, 'Filter '), filter), list);
  note(list, 'Loading…');
  let all = [];
  const draw = () => {
    const needle = filter.value.trim().toLowerCase();
    const byName = new Map();
    for (const d of all) {
      if (needle && !d.name.toLowerCase().includes(needle)) continue;
      if (!byName.has(d.name)) byName.set(d.name, []);
      byName.get(d.name).push(d);
    }
    const names = [...byName.keys()].sort();
    fill(list, names.length ? h('div', { class: 'scroll' }, h('table', { class: 'grid' },
      h('thead', {}, h('tr', {}, ['name', 'versions', 'description', 'tasks', 'updated'].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, names.map((n) => {
        const versions = byName.get(n).sort((a, b) => b.version - a.version);
        const latest = versions[0];
        return h('tr', { 'data-name': n },
          h('td', {}, h('a', { href: `#/definitions/${enc(n)}`, 'data-row-link': true }, n)),
          h('td', {}, versions.map((v, i) => [i ? ', ' : '', h('a', { href: `#/definitions/${enc(n)}?version=${v.version}` }, `v${v.version}`)])),
          h('td', {}, latest.description || ''),
          h('td', { class: 'num' }, String((latest.tasks || []).length)),
          h('td', {}, fmtTime(latest.updateTime || latest.createTime)));
      })))) : h('p', { class: 'muted' }, all.length ? 'No definition matches.' : 'No workflow definitions yet: register one with POST /api/metadata/workflow.'));
  };
  filter.addEventListener('input', draw);
  get('/metadata/workflow').then((defs) => { all = defs || []; draw(); })
    .catch((e) => note(list, `Could not load definitions: ${e.message}`, 'error'));
}
