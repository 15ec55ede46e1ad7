// JSON with syntax highlighting, built node by node from the value (no regex over text).
// Each member carries its path in the validator's notation (tasks[0].name), so validation
// errors are shown at their place.

import { h } from './dom.js';

const child = (path, key) => (typeof key === 'number' ? `${path}[${key}]` : path ? `${path}.${key}` : key);

function scalar(v) {
  if (v === null) return h('span', { class: 'j-null' }, 'null');
  switch (typeof v) {
    case 'string': return h('span', { class: 'j-str' }, JSON.stringify(v));
    case 'number': return h('span', { class: 'j-num' }, String(v));
    case 'boolean': return h('span', { class: 'j-bool' }, String(v));
    default: return h('span', {}, JSON.stringify(v));
  }
}

/**
 * A <pre> showing `value`. `errors`: [{path, message}]; each is shown after the member
 * whose path is the longest prefix of the error's path.
 */
export function jsonView(value, errors = []) {
  const paths = new Set();
  const lines = [];
  const ind = (n) => '  '.repeat(n);
  function walk(v, path, depth, prefix, comma) {
    paths.add(path);
    const line = (...parts) => lines.push({ path, parts });
    if (v !== null && typeof v === 'object') {
      const isArr = Array.isArray(v);
      const entries = isArr ? v.map((x, i) => [i, x]) : Object.entries(v);
      const [open, close] = isArr ? ['[', ']'] : ['{', '}'];
      if (!entries.length) { line(ind(depth), prefix, `${open}${close}${comma}`); return; }
      line(ind(depth), prefix, open);
      entries.forEach(([k, x], i) => {
        const key = isArr ? [] : [h('span', { class: 'j-key' }, JSON.stringify(k)), ': '];
        walk(x, child(path, k), depth + 1, key, i < entries.length - 1 ? ',' : '');
      });
      lines.push({ path: `${path}\u0000end`, parts: [ind(depth), `${close}${comma}`] });
    } else {
      line(ind(depth), prefix, scalar(v), comma);
    }
  }
  walk(value, '', 0, [], '');
  const byPath = new Map();
  for (const e of errors) {
    let p = e.path || '';
    while (p && !paths.has(p)) {
      const cut = Math.max(p.lastIndexOf('.'), p.lastIndexOf('['));
      p = cut > 0 ? p.slice(0, cut) : '';
    }
    if (!byPath.has(p)) byPath.set(p, []);
    byPath.get(p).push(e);
  }
  const pre = h('pre', { class: 'json', tabindex: '0', 'aria-label': 'JSON' });
  for (const l of lines) {
    const errs = byPath.get(l.path);
    const row = h('span', { class: errs ? 'j-line j-bad' : 'j-line', 'data-path': l.path }, l.parts);
    pre.append(row, '\n');
    if (errs) {
      byPath.delete(l.path);
      for (const e of errs) pre.append(h('span', { class: 'j-error', role: 'note' }, `  ⚠ ${e.path}: ${e.message}`), '\n');
    }
  }
  return pre;
}
