// Home: what an operator wants first. Counts by status, the latest executions, and the
// queues that are backing up; all refreshed when the live feed reports a change.

import { h, clear, note, throttle, ago, fill } from '../dom.js';
import { get, countWith, WORKFLOW_STATUSES } from '../api.js';
import * as live from '../live.js';
import { executionTable } from './executions.js';

export function render(main) {
  const counts = h('div', { class: 'cards', id: 'status-counts' });
  const recent = h('div', { id: 'recent' });
  const queues = h('div', { id: 'backlog' });
  main.append(
    h('h1', {}, 'Overview'),
    h('section', { 'aria-labelledby': 'h-counts' }, h('h2', { id: 'h-counts' }, 'Executions by status'), counts),
    h('div', { class: 'columns' },
      h('section', { 'aria-labelledby': 'h-recent' },
        h('h2', { id: 'h-recent' }, 'Latest executions ', h('a', { href: '#/executions', class: 'small' }, 'all →')), recent),
      h('section', { 'aria-labelledby': 'h-queues' },
        h('h2', { id: 'h-queues' }, 'Queues backing up ', h('a', { href: '#/queues', class: 'small' }, 'all →')), queues)));
  note(recent, 'Loading…');

  async function loadCounts() {
    const n = await Promise.all(WORKFLOW_STATUSES.map((st) => countWith({}, st)));
    fill(counts, ...WORKFLOW_STATUSES.map((st, i) => h('a', {
      class: `card st-${st}`, href: `#/executions?status=${st}`, 'aria-label': `${n[i]} ${st} executions`,
    }, h('span', { class: 'count' }, n[i].toLocaleString()), h('span', { class: 'label' }, st))));
  }

  async function loadRecent() {
    const r = await get('/workflow/search?size=12&sort=startTime:DESC');
    fill(recent, r.results.length ? executionTable(r.results) : h('p', { class: 'muted' },
      'No executions yet. Start one from ', h('a', { href: '#/definitions' }, 'a definition'), '.'));
  }

  async function loadQueues() {
    const [sizes, polls] = await Promise.all([get('/tasks/queue/all'), get('/tasks/queue/polldata/all')]);
    const lastPoll = new Map();
    for (const p of polls) {
      const prev = lastPoll.get(p.queueName);
      if (!prev || p.lastPollTime > prev.lastPollTime) lastPoll.set(p.queueName, p);
    }
    const backed = Object.entries(sizes).filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1]).slice(0, 10);
    fill(queues, backed.length ? h('table', { class: 'grid' },
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'queue'), h('th', { scope: 'col', class: 'num' }, 'waiting'), h('th', { scope: 'col' }, 'last poll'))),
      h('tbody', {}, backed.map(([q, n]) => {
        const p = lastPoll.get(q);
        const stale = !p || Date.now() - p.lastPollTime > 60000;
        return h('tr', { class: stale ? 'warn' : '' }, h('td', {}, q), h('td', { class: 'num' }, n.toLocaleString()),
          h('td', {}, p ? `${ago(p.lastPollTime)} by ${p.workerId}` : 'no worker has polled'));
      }))) : h('p', { class: 'muted' }, 'No task is waiting for a worker.'));
  }

  const report = (results) => {
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) note(recent, `Could not load: ${failed.reason.message}`, 'error');
  };
  const loadLists = async () => report(await Promise.allSettled([loadRecent(), loadQueues()]));
  const loadTotals = async () => report(await Promise.allSettled([loadCounts()]));
  // Counting by status reads every execution of that status: refreshed less often than the
  // lists, which read one page.
  const refreshLists = throttle(loadLists, 1500);
  const refreshCounts = throttle(loadTotals, 5000);
  const off = live.onChange(() => { refreshLists(); refreshCounts(); });
  loadLists();
  loadTotals();
  return () => { off(); refreshLists.cancel(); refreshCounts.cancel(); };
}
