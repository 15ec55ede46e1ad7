// Browser tests of the web UI against a real `baton server` (see harness.js). Each test
// drives the page like an operator and checks the result through the API (or the API's
// effect through the page), and saves a screenshot under test-results/.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startServer, launchBrowser, openPage, screenshot, apiClient, simpleWorkflow, repo } from './harness.js';

let server, browser, api;

before(async () => {
  server = await startServer();
  api = apiClient(server.root);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/** The status the diagram shows for a task reference. */
const nodeStatus = (page, ref) => page.locator(`svg [data-ref="${ref}"]`).getAttribute('data-status');

test('the executions list shows every execution and filters by workflow and status', { timeout: 120000 }, async () => {
  await api.register(simpleWorkflow('ui_alpha', 'ui_alpha_task'));
  await api.register(simpleWorkflow('ui_beta', 'ui_beta_task'));
  const alpha = [];
  for (let i = 0; i < 3; i += 1) alpha.push(await api.start('ui_alpha', { i }, { correlationId: `alpha-${i}` }));
  const beta = [await api.start('ui_beta', {}), await api.start('ui_beta', {})];
  await api.call('DELETE', `/workflow/${alpha[0]}?reason=for-the-filter-test`);

  const page = await openPage(browser);
  await page.goto(`${server.root}/#/executions`);
  const rows = page.locator('table.executions tbody tr');
  await page.waitForFunction(() => document.querySelectorAll('table.executions tbody tr').length === 5);
  const shown = await rows.evaluateAll((trs) => trs.map((tr) => tr.dataset.id));
  assert.deepEqual(new Set(shown), new Set([...alpha, ...beta]));

  // By workflow name.
  await page.selectOption('#f-type', 'ui_beta');
  await page.click('form.filters button[type=submit]');
  await page.waitForFunction(() => {
    const trs = [...document.querySelectorAll('table.executions tbody tr')];
    return trs.length === 2;
  });
  assert.deepEqual(new Set(await rows.evaluateAll((trs) => trs.map((tr) => tr.dataset.id))), new Set(beta));
  assert.match(await page.textContent('#query-text'), /workflowType IN \(ui_beta\)/);

  // By status, with the live counts beside each status.
  await page.selectOption('#f-type', 'ui_alpha');
  await page.check('#f-st-TERMINATED');
  await page.waitForFunction(() => {
    const trs = [...document.querySelectorAll('table.executions tbody tr')];
    return trs.length === 1 && trs[0].dataset.status === 'TERMINATED';
  });
  assert.equal(await rows.first().getAttribute('data-id'), alpha[0]);
  // Each status's count arrives by its own request: wait for both, then check them.
  await page.waitForFunction(() => document.getElementById('count-RUNNING')?.textContent === '(2)'
    && document.getElementById('count-TERMINATED')?.textContent === '(1)');
  assert.equal(await page.textContent('#count-TERMINATED'), '(1)');

  // The filter lives in the address, so the view can be shared and reloaded.
  await page.reload();
  await page.waitForFunction(() => document.querySelectorAll('table.executions tbody tr').length === 1);
  assert.equal(await page.inputValue('#f-type'), 'ui_alpha');
  await screenshot(page, 'executions-filtered');

  // Bulk: select both running ui_alpha executions and pause them; the API agrees.
  await page.uncheck('#f-st-TERMINATED');
  await page.check('#f-st-RUNNING');
  await page.waitForFunction(() => [...document.querySelectorAll('table.executions tbody tr')]
    .filter((tr) => tr.dataset.status === 'RUNNING').length === 2);
  await page.check('table.executions thead input[type=checkbox]');
  await page.waitForFunction(() => !document.querySelector('button[data-bulk="pause"]').disabled);
  await page.click('button[data-bulk="pause"]');
  await page.click('dialog #dlg-ok');
  for (const id of alpha.slice(1)) {
    await api.until(`${id} to be paused`, async () => (await api.workflow(id)).status === 'PAUSED');
  }
  assert.equal((await api.workflow(alpha[0])).status, 'TERMINATED');
  assert.equal((await api.workflow(beta[0])).status, 'RUNNING');
  await page.waitForSelector('.toast');
  assert.match(await page.textContent('#announce'), /Pause: 2 done/);

  // More conditions in the API's own grammar; a bad one shows the server's 400.
  await page.uncheck('#f-st-RUNNING');
  await page.fill('#f-query', 'correlationId = alpha-2');
  await page.click('form.filters button[type=submit]');
  await page.waitForFunction((id) => {
    const trs = [...document.querySelectorAll('table.executions tbody tr')];
    return trs.length === 1 && trs[0].dataset.id === id;
  }, alpha[2]);
  page.checkClean();
  // (The browser logs the 400 below as a failed load, so the console is checked before it.)
  await page.fill('#f-query', 'nonsense');
  await page.click('form.filters button[type=submit]');
  await page.waitForSelector('#results .error');
  assert.match(await page.textContent('#results .error'), /400: query: condition 'nonsense'/);

});

test('an open execution shows a task change state live as a worker completes it', { timeout: 120000 }, async () => {
  await api.register(simpleWorkflow('ui_live', 'ui_live_task', { outputParameters: { result: '${work.output.result}' } }));
  const id = await api.start('ui_live', { n: 1 });
  const page = await openPage(browser);
  await page.goto(`${server.root}/#/execution/${id}`);
  await page.waitForFunction(() => document.querySelector('svg [data-ref="work"]')?.dataset.status === 'SCHEDULED');
  await page.waitForFunction(() => document.getElementById('live')?.dataset.state === 'live');
  // Marks this page load: a reload would lose it, so what follows must arrive live.
  await page.evaluate(() => { window.__sameLoad = true; });

  const task = await api.pollOne('ui_live_task', 'worker-7');
  await page.waitForFunction(() => document.querySelector('svg [data-ref="work"]')?.dataset.status === 'IN_PROGRESS');
  await api.complete(task, { result: 'done by the test' });
  await page.waitForFunction(() => document.querySelector('svg [data-ref="work"]')?.dataset.status === 'COMPLETED');
  await page.waitForFunction(() => document.querySelector('#wf-status .badge')?.textContent === 'COMPLETED');
  assert.equal(await page.evaluate(() => window.__sameLoad), true);
  assert.equal(await nodeStatus(page, 'work'), 'COMPLETED');

  // The task's details: worker id and output, from the same page.
  await page.click('svg [data-ref="work"]');
  await page.waitForSelector('aside.details details.attempt');
  const details = await page.textContent('aside.details');
  assert.match(details, /worker-7/);
  assert.match(details, /done by the test/);
  await screenshot(page, 'execution-live');
  page.checkClean();
});

test('terminating from the UI terminates the execution in the API', { timeout: 120000 }, async () => {
  await api.register(simpleWorkflow('ui_term', 'ui_term_task'));
  const id = await api.start('ui_term', {});
  const page = await openPage(browser);
  await page.goto(`${server.root}/#/execution/${id}`);
  await page.click('button[data-action="terminate"]');
  await page.waitForSelector('dialog[open]');
  await page.fill('dialog #f-reason', 'stopped by the browser test');
  await page.click('dialog #dlg-ok');
  const wf = await api.until('the API to report TERMINATED', async () => {
    const w = await api.workflow(id);
    return w.status === 'TERMINATED' ? w : null;
  });
  assert.match(wf.reasonForIncompletion, /stopped by the browser test/);
  await page.waitForFunction(() => document.querySelector('#wf-status .badge')?.textContent === 'TERMINATED');
  await page.waitForSelector('.toast');
  assert.match(await page.textContent('#announce'), /Terminate .*: done/);
  // A terminated execution offers no terminate any more.
  assert.equal(await page.locator('button[data-action="terminate"]').count(), 0);
  await screenshot(page, 'execution-terminated');
  page.checkClean();
});

test('a HUMAN task is approved from the UI with an output', { timeout: 120000 }, async () => {
  await api.register({
    name: 'ui_human', version: 1, schemaVersion: 2, ownerEmail: 'ui@example.com',
    tasks: [{ name: 'approval', taskReferenceName: 'approval', type: 'HUMAN' }],
    outputParameters: { approved: '${approval.output.approved}', by: '${approval.output.by}' },
  });
  const id = await api.start('ui_human', {});
  const page = await openPage(browser);
  await page.goto(`${server.root}/#/execution/${id}`);
  await page.waitForFunction(() => document.querySelector('svg [data-ref="approval"]')?.dataset.status === 'IN_PROGRESS');
  await page.click('svg [data-ref="approval"]');
  await page.click('button[data-task-action="complete"]');
  await page.waitForSelector('dialog[open]');
  await page.fill('dialog #f-output', '{"approved": true, "by": "operator on duty"}');
  await page.click('dialog #dlg-ok');
  const wf = await api.until('the workflow to complete', async () => {
    const w = await api.workflow(id);
    return w.status === 'COMPLETED' ? w : null;
  });
  assert.deepEqual(wf.output, { approved: true, by: 'operator on duty' });
  const human = wf.tasks.find((t) => t.referenceTaskName === 'approval');
  assert.equal(human.status, 'COMPLETED');
  await page.waitForFunction(() => document.querySelector('svg [data-ref="approval"]')?.dataset.status === 'COMPLETED');
  await screenshot(page, 'human-approved');
  // The audit trail records the approval.
  await page.click('#tab-history');
  await page.waitForFunction(() => [...document.querySelectorAll('table.history tbody tr')]
    .some((tr) => tr.textContent.includes('approval') && tr.textContent.includes('COMPLETED')));
  page.checkClean();
});

test('the kitchen-sink definition diagram draws every operator and every task', { timeout: 120000 }, async () => {
  const def = JSON.parse(readFileSync(join(repo, 'examples', 'kitchen-sink.json'), 'utf8'));
  await api.register(def);
  const expected = [];
  const walk = (tasks) => {
    for (const t of tasks || []) {
      expected.push([t.taskReferenceName, t.type]);
      for (const b of t.forkTasks || []) walk(b);
      for (const c of Object.values(t.decisionCases || {})) walk(c);
      walk(t.defaultCase);
      walk(t.loopOver);
    }
  };
  walk(def.tasks);
  const page = await openPage(browser);
  await page.goto(`${server.root}/#/definitions/${def.name}`);
  await page.waitForSelector('svg.diagram-svg');
  const drawn = await page.locator('svg.diagram-svg [data-ref]').evaluateAll(
    (nodes) => nodes.map((n) => [n.dataset.ref, n.dataset.type]),
  );
  assert.deepEqual(new Set(drawn.map((d) => d.join(' '))), new Set(expected.map((d) => d.join(' '))));
  const types = new Set(expected.map(([, type]) => type));
  for (const op of ['SWITCH', 'DECISION', 'FORK_JOIN', 'JOIN', 'FORK_JOIN_DYNAMIC', 'DO_WHILE', 'SUB_WORKFLOW', 'HUMAN', 'WAIT', 'TERMINATE', 'INLINE', 'JSON_JQ_TRANSFORM', 'SET_VARIABLE', 'HTTP', 'EVENT', 'NOOP', 'DYNAMIC', 'START_WORKFLOW']) {
    assert.ok(types.has(op), `kitchen-sink.json has no ${op}`);
  }
  // Every switch case and the loop are labelled on their edges.
  const labels = await page.locator('svg.diagram-svg .edge-label').allTextContents();
  for (const l of ['a', 'default', 'odd', 'repeat']) assert.ok(labels.includes(l), `no edge labelled ${l}: ${labels}`);
  await screenshot(page, 'kitchen-sink-diagram');
  page.checkClean();
});

test('on a phone-sized screen the home page fits the width and the theme toggles', { timeout: 120000 }, async () => {
  const page = await openPage(browser, { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
  await page.goto(`${server.root}/`);
  await page.waitForSelector('#status-counts .card');
  const fits = await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth + 1);
  assert.ok(fits, 'the page scrolls sideways on a phone');
  const before = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  await page.click('#theme');
  const after = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  assert.notEqual(before, after);
  // Keyboard: "g e" goes to the executions.
  await page.keyboard.press('g');
  await page.keyboard.press('e');
  await page.waitForSelector('form.filters');
  await screenshot(page, 'phone-executions');
  page.checkClean();
});

test('tabs share one event stream, and the next tab takes it over when the first closes', { timeout: 120000 }, async () => {
  await api.register({
    name: 'ui_tabs', version: 1, schemaVersion: 2, ownerEmail: 'ui@example.com',
    tasks: ['one', 'two', 'three'].map((r) => ({ name: 'ui_tabs_task', taskReferenceName: r, type: 'SIMPLE' })),
  });
  const id = await api.start('ui_tabs', {});
  const first = await openPage(browser);
  const context = first.context();
  const streams = [];
  context.on('request', (r) => { if (r.url().includes('/api/events/stream')) streams.push(r.frame().page()); });
  await first.goto(`${server.root}/#/execution/${id}`);
  await first.waitForFunction(() => document.getElementById('live')?.dataset.state === 'live');
  const second = await context.newPage();
  await second.goto(`${server.root}/#/execution/${id}`);
  await second.waitForFunction(() => document.getElementById('live')?.dataset.state === 'live');
  await second.evaluate(() => { window.__sameLoad = true; });

  // The second tab is live through the first one's stream.
  await api.complete(await api.pollOne('ui_tabs_task'), {});
  await second.waitForFunction(() => document.querySelector('svg [data-ref="one"]')?.dataset.status === 'COMPLETED');
  await first.waitForFunction(() => document.querySelector('svg [data-ref="one"]')?.dataset.status === 'COMPLETED');
  assert.equal(streams.length, 1);
  assert.equal(streams[0], first);

  // Closing the first tab hands the stream to the second, which stays live.
  await first.close();
  await api.until('the second tab to open its own stream', () => streams.length === 2);
  assert.equal(streams[1], second);
  await second.waitForFunction(() => document.getElementById('live')?.dataset.state === 'live');
  await api.complete(await api.pollOne('ui_tabs_task'), {});
  await second.waitForFunction(() => document.querySelector('svg [data-ref="two"]')?.dataset.status === 'COMPLETED');
  assert.equal(await second.evaluate(() => window.__sameLoad), true);
  await screenshot(second, 'second-tab-took-over');
  second.checkClean?.();
  await context.close();
});

test('the queues page shows depth live and finds the oldest waiting task', { timeout: 120000 }, async () => {
  await api.register(simpleWorkflow('ui_queue', 'ui_queue_task'));
  const firstId = await api.start('ui_queue', {});
  await api.start('ui_queue', {});
  await api.start('ui_queue', {});
  const page = await openPage(browser);
  await page.goto(`${server.root}/#/queues`);
  const row = 'tr[data-queue="ui_queue_task"]';
  await page.waitForFunction((sel) => document.querySelector(`${sel} td.num`)?.textContent === '3', row);
  // The oldest entry's age shows without asking.
  const rawAge = await page.getAttribute(`${row} td.oldest`, 'data-age-ms');
  assert.notEqual(rawAge, '', 'an age is shown');
  assert.ok(Number(rawAge) >= 0 && Number(rawAge) < 120000, `age ${rawAge}`);
  assert.match(await page.textContent(`${row} td.oldest .age`), /\d+(\.\d)? (ms|s)/);
  await page.click(`${row} button[aria-label^="find the oldest"]`);
  await page.waitForSelector(`${row} a[href="#/execution/${firstId}"]`);
  // A worker takes one: the depth follows without a reload, and the finding stays.
  await api.pollOne('ui_queue_task');
  await page.waitForFunction((sel) => document.querySelector(`${sel} td.num`)?.textContent === '2', row);
  await page.waitForSelector(`${row} a[href="#/execution/${firstId}"]`);
  assert.match(await page.textContent(row), /ui-test-worker/);
  await screenshot(page, 'queues');
  page.checkClean();
});

test('a schedule is paused and an event handler deactivated from the UI, and the API agrees', { timeout: 120000 }, async () => {
  await api.register(simpleWorkflow('ui_sched', 'ui_sched_task'));
  await api.post('/scheduler/schedules', { name: 'ui_nightly', cronExpression: '0 0 2 * * ?', startWorkflowRequest: { name: 'ui_sched', input: {} } });
  await api.post('/event', { name: 'ui_on_push', event: 'baton:ui_push', active: true, actions: [{ action: 'start_workflow', start_workflow: { name: 'ui_sched' } }] });
  const page = await openPage(browser);
  await page.goto(`${server.root}/#/schedules`);
  const row = 'tr[data-schedule="ui_nightly"]';
  // The next runs are listed, from nextFewSchedules.
  await page.waitForFunction((sel) => document.querySelectorAll(`${sel} td:nth-child(6) div`).length === 3, row);
  await page.click(`${row} button`);
  await page.click('dialog #dlg-ok');
  await api.until('the schedule to be paused', async () => (await api.get('/scheduler/schedules/ui_nightly')).paused === true);
  await page.waitForFunction((sel) => document.querySelector(`${sel} button`)?.textContent === 'Resume', row);
  await screenshot(page, 'schedules');

  await page.goto(`${server.root}/#/handlers`);
  await page.click('tr[data-handler="ui_on_push"] button');
  await page.click('dialog #dlg-ok');
  await api.until('the handler to be inactive', async () => {
    const handlers = await api.get('/event');
    return handlers.find((h) => h.name === 'ui_on_push')?.active === false;
  });
  await page.waitForFunction(() => document.querySelector('tr[data-handler="ui_on_push"] button')?.textContent === 'Activate');
  await screenshot(page, 'handlers');
  page.checkClean();
});

test('a run starts from the definition form with typed input, and a failed run is retried from the UI', { timeout: 120000 }, async () => {
  await api.register(simpleWorkflow('ui_run', 'ui_run_task', { inputParameters: ['count', 'label'] }));
  const page = await openPage(browser);
  await page.goto(`${server.root}/#/definitions/ui_run?tab=run`);
  await page.fill('#in-count', '3');
  await page.fill('#in-label', 'nightly');
  await page.fill('#in-json', '{"extra": {"deep": true}}');
  await page.fill('#in-corr', 'from-the-form');
  await page.click('#start-run');
  await page.waitForFunction(() => location.hash.startsWith('#/execution/'));
  const id = await page.evaluate(() => decodeURIComponent(location.hash.split('/')[2].split('?')[0]));
  const started = await api.workflow(id);
  assert.deepEqual(started.input, { extra: { deep: true }, count: 3, label: 'nightly' });
  assert.equal(started.correlationId, 'from-the-form');

  // The worker fails it for good; Retry from the UI schedules a new attempt.
  const task = await api.pollOne('ui_run_task');
  await api.post('/tasks', { workflowInstanceId: id, taskId: task.taskId, status: 'FAILED_WITH_TERMINAL_ERROR', reasonForIncompletion: 'disk full' });
  await page.waitForFunction(() => document.querySelector('#wf-status .badge')?.textContent === 'FAILED');
  assert.match(await page.textContent('p.error'), /disk full/);
  await page.click('button[data-action="retry"]');
  await page.click('dialog #dlg-ok');
  await api.until('the retried workflow to run again', async () => (await api.workflow(id)).status === 'RUNNING');
  await page.waitForFunction(() => {
    const node = document.querySelector('svg [data-ref="work"]');
    return node?.dataset.status === 'SCHEDULED' && node.getAttribute('aria-label').includes('2 attempts');
  });
  const attempts = (await api.workflow(id)).tasks.filter((t) => t.referenceTaskName === 'work');
  assert.deepEqual(attempts.map((t) => t.status), ['FAILED_WITH_TERMINAL_ERROR', 'SCHEDULED']);
  await screenshot(page, 'retried');
  page.checkClean();
});
