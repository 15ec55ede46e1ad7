// The timeline (Gantt) of an execution's tasks: per task, the queue wait (scheduled →
// started) and the run (started → ended, or now while it runs). Bars are sized through the
// CSSOM, which the Content-Security-Policy allows (style attributes would not be).

import { h, badge, fmtDuration, fmtTime } from './dom.js';

export function timeline(workflow, onSelect) {
  const tasks = [...(workflow.tasks || [])].filter((t) => t.scheduledTime > 0)
    .sort((a, b) => a.scheduledTime - b.scheduledTime || (a.seq || 0) - (b.seq || 0));
  if (!tasks.length) return h('p', { class: 'muted' }, 'No task has been scheduled yet.');
  const now = Date.now();
  const t0 = Math.min(workflow.startTime || tasks[0].scheduledTime, tasks[0].scheduledTime);
  const end = (t) => t.endTime || (['IN_PROGRESS', 'SCHEDULED'].includes(t.status) ? now : t.updateTime || t.startTime || t.scheduledTime);
  const t1 = Math.max(workflow.endTime || 0, ...tasks.map(end), t0 + 1);
  const span = t1 - t0;
  const pct = (ms) => `${(100 * (ms - t0)) / span}%`;
  const width = (a, b) => `${Math.max(0.3, (100 * (b - a)) / span)}%`;
  const rows = tasks.map((t) => {
    const started = t.startTime || 0;
    const wait = h('div', { class: 'bar wait' });
    wait.style.left = pct(t.scheduledTime);
    wait.style.width = width(t.scheduledTime, started || end(t));
    const bars = [wait];
    const waitMs = (started || end(t)) - t.scheduledTime;
    const runMs = started ? end(t) - started : 0;
    if (started) {
      const run = h('div', { class: `bar run st-${t.status}` });
      run.style.left = pct(started);
      run.style.width = width(started, end(t));
      bars.push(run);
    }
    const label = `${t.referenceTaskName}: waited ${fmtDuration(waitMs)}${started ? `, ran ${fmtDuration(runMs)}` : ''}, ${t.status}`;
    return h('div', { class: 'trow', role: 'row' },
      h('button', { class: 'tlabel linklike', role: 'cell', onclick: () => onSelect(t.referenceTaskName), title: t.taskType },
        t.referenceTaskName),
      h('div', { class: 'track', role: 'cell', 'aria-label': label, title: label }, bars),
      h('div', { class: 'tmeta', role: 'cell' }, badge(t.status), ' ', fmtDuration(waitMs), ' + ', fmtDuration(runMs)));
  });
  return h('div', { class: 'timeline', role: 'table', 'aria-label': 'Task timeline' },
    h('div', { class: 'trow thead', role: 'row' },
      h('div', { role: 'columnheader' }, 'task'),
      h('div', { role: 'columnheader', class: 'scale' }, h('span', {}, fmtTime(t0)), h('span', {}, `${fmtDuration(span)} total`)),
      h('div', { role: 'columnheader' }, 'status, wait + run')),
    rows,
    h('p', { class: 'legend muted' }, h('span', { class: 'swatch wait' }), ' queue wait ', h('span', { class: 'swatch run' }), ' run'));
}
