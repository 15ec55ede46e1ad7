// Queues and workers: tasks waiting per queue, and which workers polled each task type last.

import { h, clear, note, throttle, ago, fmtTime, fill } from '../dom.js';
import { get } from '../api.js';
import * as live from '../live.js';

export function render(main) {
  const body = h('div', { id: 'queues' });
  main.append(h('h1', {}, 'Queues and workers'), body);
  note(body, 'Loading…');
  async function load() {
    try {
      const [sizes, polls] = await Promise.all([get('/tasks/queue/all'), get('/tasks/queue/polldata/all')]);
      const names = new Set([...Object.keys(sizes), ...polls.map((p) => p.queueName)]);
      const rows = [...names].sort((a, b) => (sizes[b] || 0) - (sizes[a] || 0) || a.localeCompare(b)).map((q) => {
        const workers = polls.filter((p) => p.queueName === q).sort((a, b) => b.lastPollTime - a.lastPollTime);
        const last = workers[0];
        const stale = (sizes[q] || 0) > 0 && (!last || Date.now() - last.lastPollTime > 60000);
        return h('tr', { class: stale ? 'warn' : '', 'data-queue': q },
          h('td', {}, q), h('td', { class: 'num' }, (sizes[q] || 0).toLocaleString()),
          h('td', {}, last ? h('time', { title: fmtTime(last.lastPollTime) }, ago(last.lastPollTime)) : 'never'),
          h('td', {}, workers.slice(0, 5).map((w, i) => [i ? ', ' : '', `${w.workerId}${w.domain ? ` (${w.domain})` : ''}`]),
            workers.length > 5 ? ` and ${workers.length - 5} more` : ''));
      });
      fill(body, rows.length ? h('div', { class: 'scroll' }, h('table', { class: 'grid' },
        h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'queue (task type)'), h('th', { scope: 'col', class: 'num' }, 'waiting'),
          h('th', { scope: 'col' }, 'last poll'), h('th', { scope: 'col' }, 'workers seen'))),
        h('tbody', {}, rows))) : h('p', { class: 'muted' }, 'No queues yet.'),
      h('p', { class: 'muted small' }, 'A row is marked when tasks wait and no worker polled in the last minute.'));
    } catch (e) { note(body, `Could not load queues: ${e.message}`, 'error'); }
  }
  const refresh = throttle(load, 2000);
  const off = live.onChange(refresh);
  load();
  return () => { off(); refresh.cancel(); };
}
