// Executions: server-paged search with the API's filters, live counts by status, and
// multi-select bulk actions (each one the per-workflow endpoint, so the answer per
// execution is shown).

import { h, clear, note, throttle, badge, fmtTime, fmtDuration, fill } from '../dom.js';
import { api, get, qs, enc, searchQuery, countWith, WORKFLOW_STATUSES } from '../api.js';
import { confirmAction, announce } from '../dialogs.js';
import { setParams } from '../route.js';
import * as live from '../live.js';
import { may } from '../session.js';

const PAGE_SIZES = [25, 50, 100];

/** A table of workflow summaries; with `selected` (a Set), rows get checkboxes. */
export function executionTable(results, { selected = null, onToggle = null } = {}) {
  const head = [
    selected ? h('th', { scope: 'col', class: 'check' }, h('input', {
      type: 'checkbox', 'aria-label': 'Select every execution on this page',
      checked: results.length > 0 && results.every((r) => selected.has(r.workflowId)),
      onchange: (e) => onToggle(results.map((r) => r.workflowId), e.target.checked),
    })) : null,
    h('th', { scope: 'col' }, 'workflow'), h('th', { scope: 'col' }, 'status'),
    h('th', { scope: 'col' }, 'id'), h('th', { scope: 'col' }, 'correlation id'),
    h('th', { scope: 'col' }, 'started'), h('th', { scope: 'col', class: 'num' }, 'took'),
  ];
  const rows = results.map((r) => {
    const start = typeof r.startTime === 'string' ? Date.parse(r.startTime) : r.startTime;
    const took = r.executionTime || (r.status === 'RUNNING' && start ? Date.now() - start : 0);
    return h('tr', { 'data-id': r.workflowId, 'data-status': r.status },
      selected ? h('td', { class: 'check' }, h('input', {
        type: 'checkbox', 'aria-label': `Select ${r.workflowId}`, checked: selected.has(r.workflowId),
        onchange: (e) => onToggle([r.workflowId], e.target.checked),
      })) : null,
      h('td', {}, h('a', { href: `#/execution/${enc(r.workflowId)}`, 'data-row-link': true }, `${r.workflowType || r.workflowName} v${r.version ?? r.workflowVersion}`)),
      h('td', {}, badge(r.status)),
      h('td', { class: 'mono' }, r.workflowId),
      h('td', {}, r.correlationId || ''),
      h('td', {}, fmtTime(r.startTime)),
      h('td', { class: 'num' }, fmtDuration(took)));
  });
  return h('div', { class: 'scroll' }, h('table', { class: 'grid executions' }, h('thead', {}, h('tr', {}, head)), h('tbody', {}, rows)));
}

const BULK = [
  { id: 'pause', label: 'Pause', run: (id) => api('PUT', `/workflow/${enc(id)}/pause`) },
  { id: 'resume', label: 'Resume', run: (id) => api('PUT', `/workflow/${enc(id)}/resume`) },
  { id: 'retry', label: 'Retry', run: (id) => api('POST', `/workflow/${enc(id)}/retry`) },
  { id: 'restart', label: 'Restart', run: (id) => api('POST', `/workflow/${enc(id)}/restart`) },
  {
    id: 'terminate', label: 'Terminate', danger: true,
    fields: [{ name: 'reason', label: 'Reason (recorded on each execution)', type: 'text', value: 'terminated from the UI' }],
    run: (id, v) => api('DELETE', `/workflow/${enc(id)}${qs({ reason: v.reason })}`),
  },
];

/** Runs `fn` over `items` with at most `limit` at once. */
async function pool(items, limit, fn) {
  const out = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      try { out[i] = { ok: true, value: await fn(items[i]) }; } catch (e) { out[i] = { ok: false, error: e }; }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

const toMs = (local) => (local ? new Date(local).getTime() : '');

export function render(main, { params }) {
  const f = {
    workflowType: params.get('type') || '',
    statuses: (params.get('status') || '').split(',').filter(Boolean),
    correlationId: params.get('corr') || '',
    freeText: params.get('q') || '',
    fromLocal: params.get('from') || '',
    toLocal: params.get('to') || '',
    raw: params.get('query') || '',
  };
  let start = Number(params.get('start')) || 0;
  let size = PAGE_SIZES.includes(Number(params.get('size'))) ? Number(params.get('size')) : 25;
  const selected = new Set();

  const typeSelect = h('select', { id: 'f-type', name: 'type' }, h('option', { value: '' }, 'any workflow'));
  const corr = h('input', { id: 'f-corr', name: 'corr', type: 'text', value: f.correlationId, autocomplete: 'off' });
  const free = h('input', { id: 'f-q', name: 'q', type: 'search', value: f.freeText, 'data-search': true, placeholder: 'free text (/)' });
  const from = h('input', { id: 'f-from', name: 'from', type: 'datetime-local', value: f.fromLocal });
  const to = h('input', { id: 'f-to', name: 'to', type: 'datetime-local', value: f.toLocal });
  const raw = h('input', { id: 'f-query', name: 'query', type: 'text', value: f.raw, autocomplete: 'off', placeholder: 'status IN (FAILED,TIMED_OUT)', spellcheck: 'false' });
  const statusBoxes = WORKFLOW_STATUSES.map((st) => {
    const box = h('input', { type: 'checkbox', id: `f-st-${st}`, value: st, checked: f.statuses.includes(st) });
    const count = h('span', { class: 'facet-count', id: `count-${st}` });
    return { st, box, el: h('label', { class: `facet st-${st}`, for: `f-st-${st}` }, box, ` ${st} `, count), count };
  });
  const queryLine = h('code', { id: 'query-text' });
  const form = h('form', { class: 'filters', role: 'search', 'aria-label': 'Filter executions' },
    h('div', { class: 'field' }, h('label', { for: 'f-type' }, 'Workflow'), typeSelect),
    h('div', { class: 'field' }, h('label', { for: 'f-corr' }, 'Correlation id'), corr),
    h('div', { class: 'field' }, h('label', { for: 'f-q' }, 'Free text'), free),
    h('div', { class: 'field' }, h('label', { for: 'f-from' }, 'Started after'), from),
    h('div', { class: 'field' }, h('label', { for: 'f-to' }, 'Started before'), to),
    h('div', { class: 'field wide' }, h('label', { for: 'f-query' }, 'More conditions (the API\'s query grammar, joined with AND)'), raw),
    h('fieldset', { class: 'facets' }, h('legend', {}, 'Status'), statusBoxes.map((b) => b.el)),
    h('div', { class: 'row' }, h('button', { type: 'submit', class: 'primary' }, 'Search'),
      h('button', { type: 'button', onclick: () => { location.hash = '#/executions'; } }, 'Clear')),
    h('p', { class: 'muted small' }, 'query: ', queryLine));
  const bulkBar = h('div', { class: 'bulk row', role: 'toolbar', 'aria-label': 'Bulk actions on the selected executions' });
  const results = h('div', { id: 'results', 'aria-live': 'polite' });
  const pager = h('nav', { class: 'pager row', 'aria-label': 'Pages' });
  main.append(h('h1', {}, 'Executions'), form, bulkBar, results, pager);

  get('/metadata/workflow/names').then((names) => {
    for (const n of names || []) typeSelect.append(h('option', { value: n, selected: n === f.workflowType }, n));
  }).catch(() => {});

  const filters = () => ({
    workflowType: f.workflowType, statuses: f.statuses, correlationId: f.correlationId, freeText: f.freeText,
    from: toMs(f.fromLocal), to: toMs(f.toLocal), raw: f.raw,
  });

  function renderBulk() {
    if (!may('operate')) { bulkBar.hidden = true; return; }
    fill(bulkBar, h('span', { class: 'muted' }, `${selected.size} selected`),
      BULK.map((b) => h('button', {
        type: 'button', class: b.danger ? 'danger' : '', disabled: selected.size === 0, 'data-bulk': b.id,
        onclick: () => runBulk(b),
      }, b.label)),
      selected.size ? h('button', { type: 'button', class: 'linklike', onclick: () => { selected.clear(); load(); } }, 'clear selection') : null);
  }

  async function runBulk(b) {
    const ids = [...selected];
    const values = await confirmAction({
      title: `${b.label} ${ids.length} execution${ids.length === 1 ? '' : 's'}`,
      message: ids.length <= 5 ? ids.join(', ') : `${ids.slice(0, 5).join(', ')} and ${ids.length - 5} more`,
      confirmLabel: b.label, danger: !!b.danger, fields: b.fields || [],
    });
    if (!values) return;
    const out = await pool(ids, 4, (id) => b.run(id, values));
    const failed = out.map((r, i) => [ids[i], r]).filter(([, r]) => !r.ok);
    const okCount = ids.length - failed.length;
    if (failed.length) {
      announce(`${b.label}: ${okCount} done, ${failed.length} refused: ${failed.slice(0, 3).map(([id, r]) => `${id}: ${r.error.message}`).join('; ')}`, 'error');
    } else {
      announce(`${b.label}: ${okCount} done`);
    }
    for (const [id] of out.map((r, i) => [ids[i], r]).filter(([, r]) => r.ok)) selected.delete(id);
    load();
    loadCounts();
  }

  const onToggle = (ids, on) => {
    for (const id of ids) { if (on) selected.add(id); else selected.delete(id); }
    renderBulk();
    for (const cb of results.querySelectorAll('tbody input[type=checkbox]')) {
      cb.checked = selected.has(cb.closest('tr').dataset.id);
    }
  };

  async function loadCounts() {
    const base = filters();
    try {
      const n = await Promise.all(WORKFLOW_STATUSES.map((st) => countWith({ ...base, statuses: [] }, st)));
      statusBoxes.forEach((b, i) => { b.count.textContent = `(${n[i].toLocaleString()})`; });
    } catch {
      for (const b of statusBoxes) b.count.textContent = '';
    }
  }

  async function load() {
    const query = searchQuery(filters());
    queryLine.textContent = query || '(none)';
    try {
      const r = await get(`/workflow/search${qs({ start, size, sort: 'startTime:DESC', query, freeText: f.freeText })}`);
      fill(results, r.results.length ? executionTable(r.results, may('operate') ? { selected, onToggle } : {})
        : h('p', { class: 'muted' }, 'No execution matches.'));
      const last = Math.min(start + size, r.totalHits);
      fill(pager, 
        h('button', { type: 'button', disabled: start === 0, onclick: () => { start = Math.max(0, start - size); setParams({ start }); load(); } }, '← Newer'),
        h('span', { id: 'page-info' }, r.totalHits ? `${start + 1}–${last} of ${r.totalHits.toLocaleString()}` : '0'),
        h('button', { type: 'button', disabled: last >= r.totalHits, onclick: () => { start += size; setParams({ start }); load(); } }, 'Older →'),
        h('label', { for: 'page-size' }, ' per page '),
        h('select', { id: 'page-size', onchange: (e) => { size = Number(e.target.value); start = 0; setParams({ size, start }); load(); } },
          PAGE_SIZES.map((n) => h('option', { value: n, selected: n === size }, String(n)))));
      renderBulk();
    } catch (e) {
      note(results, `Search failed: ${e.message}`, 'error');
    }
  }

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    f.workflowType = typeSelect.value;
    f.correlationId = corr.value.trim();
    f.freeText = free.value.trim();
    f.fromLocal = from.value;
    f.toLocal = to.value;
    f.raw = raw.value.trim();
    f.statuses = statusBoxes.filter((b) => b.box.checked).map((b) => b.st);
    start = 0;
    setParams({ type: f.workflowType, corr: f.correlationId, q: f.freeText, from: f.fromLocal, to: f.toLocal, query: f.raw, status: f.statuses.join(','), start: null });
    load();
    loadCounts();
  });
  for (const b of statusBoxes) b.box.addEventListener('change', () => form.requestSubmit());

  note(results, 'Loading…');
  load();
  loadCounts();
  // Counts read every matching execution per status: refreshed less often than the page.
  const refresh = throttle(load, 2000);
  const refreshCounts = throttle(loadCounts, 5000);
  const off = live.onChange(() => { refresh(); refreshCounts(); });
  return () => { off(); refresh.cancel(); refreshCounts.cancel(); };
}
