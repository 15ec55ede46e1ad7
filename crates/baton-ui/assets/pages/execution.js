// One execution: the diagram coloured by status (live), the timeline, each task's details
// and attempts, the workflow's data and history, and the actions, each confirmed and
// answered with the server's reply.

import { h, clear, note, throttle, badge, fmtTime, fmtDuration, tabs, fill } from '../dom.js';
import { api, get, qs, enc } from '../api.js';
import { act } from '../dialogs.js';
import { jsonView } from '../json.js';
import { diagram, taskIndex, allNodes } from '../diagram.js';
import { timeline } from '../timeline.js';
import { setParams } from '../route.js';
import * as live from '../live.js';
import { may } from '../session.js';

const TERMINAL = ['COMPLETED', 'FAILED', 'TIMED_OUT', 'TERMINATED'];
const TASK_DONE = ['COMPLETED', 'COMPLETED_WITH_ERRORS', 'FAILED', 'FAILED_WITH_TERMINAL_ERROR', 'TIMED_OUT', 'CANCELED', 'SKIPPED'];
const baseRef = (ref) => String(ref || '').replace(/__\d+$/, '');

function workflowActions(wf, reload) {
  // A viewer sees no action; the server would refuse it anyway (403).
  if (!may('operate')) return [];
  const id = enc(wf.workflowId);
  const a = [];
  const add = (label, opts, run, danger = false) => a.push(h('button', {
    type: 'button', class: danger ? 'danger' : '', 'data-action': label.toLowerCase(),
    onclick: async () => { if (await act({ title: `${label} ${wf.workflowId}`, confirmLabel: label, danger, ...opts }, run)) reload(); },
  }, label));
  if (wf.status === 'RUNNING') add('Pause', {}, () => api('PUT', `/workflow/${id}/pause`));
  if (wf.status === 'PAUSED') add('Resume', {}, () => api('PUT', `/workflow/${id}/resume`));
  if (['FAILED', 'TIMED_OUT', 'TERMINATED'].includes(wf.status)) {
    add('Retry', { message: 'Retries the last failed task and carries on from there.' }, () => api('POST', `/workflow/${id}/retry`));
  }
  if (TERMINAL.includes(wf.status)) {
    add('Restart', {
      message: 'Starts this execution again from the beginning, with the same input.',
      fields: [{ name: 'latest', label: 'use the latest definition', type: 'checkbox' }],
    }, (v) => api('POST', `/workflow/${id}/restart${qs({ useLatestDefinitions: v.latest ? 'true' : '' })}`));
  }
  if (!TERMINAL.includes(wf.status)) {
    add('Terminate', {
      message: 'Ends the execution now; running tasks are cancelled.',
      fields: [{ name: 'reason', label: 'Reason', type: 'text', value: 'terminated from the UI' }],
    }, (v) => api('DELETE', `/workflow/${id}${qs({ reason: v.reason })}`), true);
  }
  return a;
}

function taskActions(wf, ref, attempts, node, reload) {
  if (!may('operate')) return [];
  const id = enc(wf.workflowId);
  const latest = attempts[attempts.length - 1];
  const out = [];
  const add = (label, opts, run, danger = false) => out.push(h('button', {
    type: 'button', class: danger ? 'danger' : '', 'data-task-action': label.toLowerCase(),
    onclick: async () => { if (await act({ title: `${label}: ${ref}`, confirmLabel: label, danger, ...opts }, run)) reload(); },
  }, label));
  const waiting = latest && ['IN_PROGRESS', 'SCHEDULED'].includes(latest.status);
  if (waiting && ['HUMAN', 'WAIT'].includes(latest.taskType)) {
    add('Complete', {
      message: `Completes this ${latest.taskType} task with the output below.`,
      fields: [{ name: 'output', label: 'Output (JSON object)', type: 'json', value: '{\n  "approved": true\n}' }],
    }, (v) => api('POST', `/tasks/${id}/${enc(latest.referenceTaskName)}/COMPLETED`, v.output));
    add('Fail', {
      message: `Fails this ${latest.taskType} task with the output below.`,
      fields: [{ name: 'output', label: 'Output (JSON object)', type: 'json', value: '{\n  "approved": false\n}' }],
    }, (v) => api('POST', `/tasks/${id}/${enc(latest.referenceTaskName)}/FAILED`, v.output), true);
  }
  if (!latest && node && wf.status === 'RUNNING') {
    add('Skip', {
      message: 'Records this task as SKIPPED; the workflow walks past it.',
      fields: [{ name: 'output', label: 'Task output (JSON object)', type: 'json', value: '{}' }],
    }, (v) => api('PUT', `/workflow/${id}/skiptask/${enc(ref)}`, { taskOutput: v.output }));
  }
  if (latest && TERMINAL.includes(wf.status)) {
    add('Rerun from here', { message: 'Runs the workflow again from this task on; earlier tasks keep their results.' },
      () => api('POST', `/workflow/${id}/rerun`, { reRunFromTaskId: latest.taskId }));
  }
  return out;
}

function kv(pairs) {
  return h('dl', { class: 'kv' }, pairs.filter(([, v]) => v !== undefined && v !== null && v !== '')
    .map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
}

function attemptView(t) {
  const logs = h('div', { class: 'logs' }, h('button', {
    type: 'button', class: 'linklike',
    onclick: async () => {
      note(logs, 'Loading logs…');
      try {
        const l = await get(`/tasks/${enc(t.taskId)}/log`);
        fill(logs, l && l.length ? h('pre', { class: 'log' }, l.map((x) => `${fmtTime(x.createdTime)}  ${x.log}\n`))
          : h('p', { class: 'muted' }, 'No log lines.'));
      } catch (e) { note(logs, e.message, 'error'); }
    },
  }, 'show logs'));
  const started = t.startTime || 0;
  return h('details', { class: 'attempt', open: true },
    h('summary', {}, badge(t.status), ` attempt ${t.retryCount + 1}`, t.iteration ? `, iteration ${t.iteration}` : '', ` · ${t.taskId}`),
    kv([
      ['type', t.taskType], ['worker', t.workerId], ['scheduled', fmtTime(t.scheduledTime)],
      ['started', fmtTime(started)], ['ended', fmtTime(t.endTime)],
      ['queue wait', started ? fmtDuration(started - t.scheduledTime) : ''],
      ['ran', started && t.endTime ? fmtDuration(t.endTime - started) : ''],
      ['polls', t.pollCount || ''], ['failure', t.reasonForIncompletion],
      ['sub-workflow', t.subWorkflowId ? h('a', { href: `#/execution/${enc(t.subWorkflowId)}` }, t.subWorkflowId) : ''],
    ]),
    h('h4', {}, 'Input'), jsonView(t.inputData || {}),
    h('h4', {}, 'Output'), jsonView(t.outputData || {}),
    logs);
}

export function render(main, { args, params }) {
  const id = args[0];
  let tab = params.get('tab') || 'diagram';
  let selectedRef = params.get('task') || null;
  let wf = null;
  let diagramScroll = null;
  const root = h('div', { class: 'execution' });
  main.append(root);
  note(root, 'Loading…');

  const select = (ref) => { selectedRef = ref; setParams({ task: ref }); draw(); };

  function details() {
    if (!selectedRef) return h('p', { class: 'muted' }, 'Select a task to see its input, output, logs and attempts.');
    const attempts = (wf.tasks || []).filter((t) => baseRef(t.referenceTaskName) === baseRef(selectedRef))
      .sort((a, b) => (a.seq || 0) - (b.seq || 0));
    const node = allNodes(wf.workflowDefinition?.tasks).find((n) => n.taskReferenceName === baseRef(selectedRef));
    return h('div', { 'aria-live': 'polite' },
      h('h3', {}, selectedRef, ' ', h('button', { type: 'button', class: 'linklike', 'aria-label': 'Close task details', onclick: () => select(null) }, '×')),
      h('div', { class: 'row actions' }, taskActions(wf, selectedRef, attempts, node, reload)),
      attempts.length ? [...attempts].reverse().map(attemptView)
        : h('p', { class: 'muted' }, 'Not scheduled yet.'));
  }

  function tasksTable() {
    const list = [...(wf.tasks || [])].sort((a, b) => (a.seq || 0) - (b.seq || 0));
    if (!list.length) return h('p', { class: 'muted' }, 'No tasks yet.');
    return h('div', { class: 'scroll' }, h('table', { class: 'grid' },
      h('thead', {}, h('tr', {}, ['#', 'reference', 'type', 'status', 'attempt', 'worker', 'scheduled', 'took', 'failure'].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, list.map((t) => h('tr', { 'data-ref': t.referenceTaskName, 'data-status': t.status },
        h('td', {}, String(t.seq)),
        h('td', {}, h('button', { type: 'button', class: 'linklike', 'data-row-link': true, onclick: () => { tab = 'diagram'; setParams({ tab }); select(t.referenceTaskName); } }, t.referenceTaskName)),
        h('td', {}, t.taskType), h('td', {}, badge(t.status)), h('td', {}, String(t.retryCount + 1)),
        h('td', {}, t.workerId || ''), h('td', {}, fmtTime(t.scheduledTime)),
        h('td', { class: 'num' }, t.startTime && t.endTime ? fmtDuration(t.endTime - t.startTime) : ''),
        h('td', {}, t.reasonForIncompletion || ''))))));
  }

  function historyPanel(panel) {
    note(panel, 'Loading history…');
    get(`/workflow/${enc(id)}/history`).then((events) => {
      fill(panel, events && events.length ? h('div', { class: 'scroll' }, h('table', { class: 'grid history' },
        h('thead', {}, h('tr', {}, ['time', 'what', 'reference', 'status', 'worker', 'reason'].map((c) => h('th', { scope: 'col' }, c)))),
        h('tbody', {}, events.map((e) => h('tr', {},
          h('td', {}, fmtTime(e.time)), h('td', {}, e.entity),
          h('td', {}, e.referenceTaskName ? h('button', { type: 'button', class: 'linklike', onclick: () => { tab = 'diagram'; setParams({ tab }); select(e.referenceTaskName); } }, e.referenceTaskName) : ''),
          h('td', {}, badge(e.status)), h('td', {}, e.workerId || ''), h('td', {}, e.reason || '')))))) : h('p', { class: 'muted' }, 'No history.'));
    }).catch((e) => note(panel, e.message, 'error'));
  }

  function draw() {
    const oldWrap = root.querySelector('.diagram');
    if (oldWrap) diagramScroll = [oldWrap.scrollLeft, oldWrap.scrollTop];
    const running = !TERMINAL.includes(wf.status);
    const took = (wf.endTime || (running ? Date.now() : wf.updateTime)) - wf.startTime;
    const def = wf.workflowDefinition || { name: wf.workflowName, tasks: [] };
    const [tabList, panel] = tabs([
      {
        id: 'diagram', label: 'Diagram', render: (p) => p.append(h('div', { class: 'split' },
          diagram(def, {
            tasks: wf.tasks, onSelect: select, selected: selectedRef,
            linkSub: (n, t) => (t?.subWorkflowId ? `#/execution/${enc(t.subWorkflowId)}` : null),
          }),
          h('aside', { class: 'details', 'aria-label': 'Task details' }, details()))),
      },
      { id: 'timeline', label: 'Timeline', render: (p) => p.append(timeline(wf, (ref) => { tab = 'diagram'; setParams({ tab }); select(ref); })) },
      { id: 'tasks', label: `Tasks (${(wf.tasks || []).length})`, render: (p) => p.append(tasksTable()) },
      {
        id: 'data', label: 'Input / output', render: (p) => p.append(
          h('h3', {}, 'Input'), jsonView(wf.input || {}), h('h3', {}, 'Output'), jsonView(wf.output || {}),
          h('h3', {}, 'Variables'), jsonView(wf.variables || {})),
      },
      { id: 'history', label: 'History', render: historyPanel },
      { id: 'json', label: 'JSON', render: (p) => p.append(jsonView({ ...wf, workflowDefinition: undefined })) },
    ], tab, (t) => { tab = t; setParams({ tab: t }); draw(); });
    fill(root, 
      h('div', { class: 'title-row' },
        h('h1', {}, `${wf.workflowName} `, h('span', { class: 'muted' }, `v${wf.workflowVersion}`)),
        h('span', { id: 'wf-status' }, badge(wf.status)),
        h('div', { class: 'row actions', role: 'toolbar', 'aria-label': 'Workflow actions' }, workflowActions(wf, reload))),
      kv([
        ['id', h('code', {}, wf.workflowId)], ['correlation id', wf.correlationId],
        ['definition', h('a', { href: `#/definitions/${enc(wf.workflowName)}?version=${wf.workflowVersion}` }, `${wf.workflowName} v${wf.workflowVersion}`)],
        ['parent', wf.parentWorkflowId ? h('a', { href: `#/execution/${enc(wf.parentWorkflowId)}` }, wf.parentWorkflowId) : ''],
        ['started', fmtTime(wf.startTime)], ['ended', fmtTime(wf.endTime)],
        [running ? 'running for' : 'took', fmtDuration(took)],
      ]),
      wf.reasonForIncompletion ? h('p', { class: 'error', role: 'alert' }, wf.reasonForIncompletion) : null,
      tabList, panel);
    const wrap = root.querySelector('.diagram');
    if (wrap && diagramScroll) [wrap.scrollLeft, wrap.scrollTop] = diagramScroll;
  }

  async function reload() {
    try {
      wf = await get(`/workflow/${enc(id)}?includeTasks=true`);
      draw();
    } catch (e) {
      note(root, `Could not load execution ${id}: ${e.message}`, 'error');
    }
  }

  // A big execution costs more to read and draw: wait longer between re-reads.
  const refresh = throttle(reload, () => 300 + Math.min(5000, (wf?.tasks?.length || 0) / 5));
  const off = live.onChange((c) => { if (c.resync || c.workflowId === id) refresh(); });
  reload();
  return () => { off(); refresh.cancel(); };
}
