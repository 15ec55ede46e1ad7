// Schedules: list, pause and resume, next runs, and the latest runs of each one's workflow.

import { h, clear, note, badge, fmtTime, fill } from '../dom.js';
import { api, get, qs, enc } from '../api.js';
import { act } from '../dialogs.js';
import { may } from '../session.js';

function recentRuns(s, cell) {
  const wf = s.startWorkflowRequest?.name;
  if (!wf) return;
  get(`/workflow/search${qs({ size: 3, sort: 'startTime:DESC', query: `workflowType IN (${wf})` })}`).then((r) => {
    fill(cell, r.results.length ? r.results.map((x) => h('div', {},
      badge(x.status), ' ', h('a', { href: `#/execution/${enc(x.workflowId)}` }, fmtTime(x.startTime)))) : h('span', { class: 'muted' }, 'none'));
  }).catch(() => fill(cell, '?'));
}

/** The next due times (the first from the schedule, the rest from nextFewSchedules). */
function nextRuns(s) {
  const cell = h('td', {}, s.paused ? '' : fmtTime(s.nextRunTime));
  if (s.paused) return cell;
  get(`/scheduler/nextFewSchedules${qs({ cronExpression: s.cronExpression, zoneId: s.zoneId, limit: 3, scheduleStartTime: s.scheduleStartTime, scheduleEndTime: s.scheduleEndTime })}`)
    .then((times) => { if (times && times.length) fill(cell, times.map((t) => h('div', {}, fmtTime(t)))); })
    .catch(() => {});
  return cell;
}

export function render(main) {
  const body = h('div', { id: 'schedules' });
  main.append(h('h1', {}, 'Schedules'), body);
  async function load() {
    note(body, 'Loading…');
    try {
      const list = await get('/scheduler/schedules');
      if (!list.length) { note(body, 'No schedules. Create one with POST /api/scheduler/schedules or `baton schedule`.'); return; }
      fill(body, h('div', { class: 'scroll' }, h('table', { class: 'grid' },
        h('thead', {}, h('tr', {}, ['name', 'workflow', 'cron', 'zone', 'state', 'next runs', 'latest runs of the workflow', ''].map((c) => h('th', { scope: 'col' }, c)))),
        h('tbody', {}, list.map((s) => {
          const runs = h('td', {}, '…');
          recentRuns(s, runs);
          const action = s.paused ? 'Resume' : 'Pause';
          return h('tr', { 'data-schedule': s.name },
            h('td', {}, s.name, s.description ? h('div', { class: 'muted small' }, s.description) : null),
            h('td', {}, h('a', { href: `#/definitions/${enc(s.startWorkflowRequest?.name || '')}` }, s.startWorkflowRequest?.name || '')),
            h('td', {}, h('code', {}, s.cronExpression)), h('td', {}, s.zoneId || 'UTC'),
            h('td', {}, s.paused ? badge('PAUSED') : 'active'),
            nextRuns(s),
            runs,
            h('td', {}, may('operate') ? h('button', {
              type: 'button', onclick: async () => {
                if (await act({ title: `${action} schedule ${s.name}`, confirmLabel: action },
                  () => api('PUT', `/scheduler/schedules/${enc(s.name)}/${action.toLowerCase()}`))) load();
              },
            }, action) : null));
        })))));
    } catch (e) { note(body, `Could not load schedules: ${e.message}`, 'error'); }
  }
  load();
}
