// Event handlers: list with their actions, activate or deactivate, and the latest messages
// published to Baton's own event sink.

import { h, clear, note, fmtTime, fill } from '../dom.js';
import { api, get } from '../api.js';
import { act } from '../dialogs.js';
import { jsonView } from '../json.js';
import { may } from '../session.js';

export function render(main) {
  const body = h('div', { id: 'handlers' });
  const published = h('div', { id: 'published' });
  main.append(h('h1', {}, 'Event handlers'), body, h('h2', {}, 'Latest published events'), published);
  async function load() {
    note(body, 'Loading…');
    try {
      const list = await get('/event');
      fill(body, list.length ? h('div', { class: 'scroll' }, h('table', { class: 'grid' },
        h('thead', {}, h('tr', {}, ['name', 'event', 'condition', 'actions', 'state', ''].map((c) => h('th', { scope: 'col' }, c)))),
        h('tbody', {}, list.map((e) => {
          const verb = e.active ? 'Deactivate' : 'Activate';
          return h('tr', { 'data-handler': e.name },
            h('td', {}, e.name), h('td', {}, h('code', {}, e.event)), h('td', {}, e.condition ? h('code', {}, e.condition) : ''),
            h('td', {}, (e.actions || []).map((a) => h('div', {}, a.action,
              a.start_workflow ? ` ${a.start_workflow.name}` : '', a.complete_task ? ` ${a.complete_task.taskRefName || ''}` : '',
              a.fail_task ? ` ${a.fail_task.taskRefName || ''}` : '', a.terminate_workflow ? ` ${a.terminate_workflow.workflowId || ''}` : ''))),
            h('td', {}, e.active ? 'active' : 'inactive'),
            h('td', {}, may('admin') ? h('button', {
              type: 'button', onclick: async () => {
                if (await act({ title: `${verb} handler ${e.name}`, confirmLabel: verb },
                  () => api('PUT', '/event', { ...e, active: !e.active }))) load();
              },
            }, verb) : null));
        })))) : h('p', { class: 'muted' }, 'No event handlers. Register one with POST /api/event.'));
    } catch (err) { note(body, `Could not load handlers: ${err.message}`, 'error'); }
    try {
      const events = await get('/event/published?limit=20');
      fill(published, events && events.length ? h('ul', { class: 'plain' }, events.map((ev) => h('li', {},
        h('time', {}, fmtTime(ev.time)), ' ', h('code', {}, ev.event), ' ', h('span', { class: 'muted' }, ev.messageId),
        jsonView(ev.message)))) : h('p', { class: 'muted' }, 'Nothing published yet.'));
    } catch (err) { note(published, err.message, 'error'); }
  }
  load();
}
