// Queues and workers: tasks waiting per queue, how long the oldest has waited, and which
// workers polled each task type last.

import { h, clear, note, throttle, ago, fmtTime, fmtDuration, fill } from '../dom.js';
import { get, qs, enc } from '../api.js';
import * as live from '../live.js';

/** Oldest waiting tasks looked up so far, by queue. */
const found = new Map();

function oldestLink(queue) {
  const f = found.get(queue);
  return h('a', { href: `#/execution/${enc(f.workflowId)}`, title: `scheduled ${fmtTime(f.scheduled)}; looked up ${fmtTime(f.at)}` },
    `scheduled ${ago(f.scheduled)}`);
}

/** The oldest SCHEDULED task of a queue's type, found on request (to open its execution):
 * task search answers the newest first, so the oldest is the last of its results (a scan of
 * the task table, which is why the page does not do it on every refresh; the age itself comes
 * with every refresh from queue/stats). */
async function oldest(queue, cell) {
  const type = queue.includes(':') ? queue.slice(queue.indexOf(':') + 1) : queue;
  const query = `taskType IN (${type}) AND status IN (SCHEDULED)`;
  fill(cell, 'looking…');
  try {
    const first = await get(`/tasks/search${qs({ size: 1, query })}`);
    if (!first.totalHits) { fill(cell, 'none waiting'); return; }
    const last = await get(`/tasks/search${qs({ size: 1, start: first.totalHits - 1, query })}`);
    const t = last.results[0];
    if (!t) { fill(cell, '?'); return; }
    // Kept across the live refreshes of the table, with the time it was looked up.
    found.set(queue, { workflowId: t.workflowId, scheduled: t.scheduledTime, at: Date.now() });
    fill(cell, oldestLink(queue));
  } catch (e) { fill(cell, e.message); }
}

export function render(main) {
  const body = h('div', { id: 'queues' });
  main.append(h('h1', {}, 'Queues and workers'), body);
  note(body, 'Loading…');
  async function load() {
    try {
      const [stats, polls] = await Promise.all([get('/tasks/queue/stats'), get('/tasks/queue/polldata/all')]);
      const sizes = Object.fromEntries(stats.map((q) => [q.queueName, q.depth]));
      const ages = Object.fromEntries(stats.map((q) => [q.queueName, q.oldestAgeMs]));
      const names = new Set([...Object.keys(sizes), ...polls.map((p) => p.queueName)]);
      const rows = [...names].sort((a, b) => (sizes[b] || 0) - (sizes[a] || 0) || a.localeCompare(b)).map((q) => {
        const workers = polls.filter((p) => p.queueName === q).sort((a, b) => b.lastPollTime - a.lastPollTime);
        const last = workers[0];
        const stale = (sizes[q] || 0) > 0 && (!last || Date.now() - last.lastPollTime > 60000);
        const age = ages[q];
        const oldestCell = h('td', { class: 'oldest', 'data-age-ms': age ?? '' });
        if (age !== undefined && age !== null) oldestCell.append(h('span', { class: 'age' }, fmtDuration(age)), ' ');
        else if (sizes[q] > 0) oldestCell.append(h('span', { class: 'muted' }, 'not yet due'), ' ');
        const finding = h('span', {});
        if (found.has(q) && sizes[q] > 0) finding.append(oldestLink(q), ' ');
        if (sizes[q] > 0) {
          finding.append(h('button', { type: 'button', class: 'linklike', 'aria-label': `find the oldest waiting task of ${q}`, onclick: () => oldest(q, finding) }, 'find'));
        }
        oldestCell.append(finding);
        return h('tr', { class: stale ? 'warn' : '', 'data-queue': q },
          h('td', {}, q), h('td', { class: 'num' }, (sizes[q] || 0).toLocaleString()), oldestCell,
          h('td', {}, last ? h('time', { title: fmtTime(last.lastPollTime) }, ago(last.lastPollTime)) : 'never'),
          h('td', {}, workers.slice(0, 5).map((w, i) => [i ? ', ' : '', `${w.workerId}${w.domain ? ` (${w.domain})` : ''}`]),
            workers.length > 5 ? ` and ${workers.length - 5} more` : ''));
      });
      fill(body, rows.length ? h('div', { class: 'scroll' }, h('table', { class: 'grid' },
        h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'queue (task type)'), h('th', { scope: 'col', class: 'num' }, 'waiting'),
          h('th', { scope: 'col' }, 'oldest waiting'), h('th', { scope: 'col' }, 'last poll'), h('th', { scope: 'col' }, 'workers seen'))),
        h('tbody', {}, rows))) : h('p', { class: 'muted' }, 'No queues yet.'),
      h('p', { class: 'muted small' }, 'A row is marked when tasks wait and no worker polled in the last minute.'));
    } catch (e) { note(body, `Could not load queues: ${e.message}`, 'error'); }
  }
  const refresh = throttle(load, 2000);
  const off = live.onChange(refresh);
  // Ages grow with nothing committed: re-read every 10 s as well (one grouped read).
  const tick = setInterval(() => { if (!document.hidden) refresh(); }, 10000);
  load();
  return () => { off(); refresh.cancel(); clearInterval(tick); };
}
