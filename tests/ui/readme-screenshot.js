// Makes docs/img/execution.png, the README's picture of the execution view: the
// kitchen-sink workflow part way through (workers answered, the HUMAN task waiting).
// Run from tests/ui: BATON_BIN=... node readme-screenshot.js

import { createServer } from 'node:http';
import { readFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { startServer, launchBrowser, openPage, apiClient, repo } from './harness.js';

const stub = createServer((req, res) => { res.setHeader('Content-Type', 'application/json'); res.end('{"ok":true}'); });
await new Promise((r) => stub.listen(0, '127.0.0.1', r));
const server = await startServer();
const browser = await launchBrowser();
try {
  const api = apiClient(server.root);
  const def = JSON.parse(readFileSync(join(repo, 'examples', 'kitchen-sink.json'), 'utf8'));
  await api.register(def);
  const id = await api.start(def.name, {
    httpUrl: `http://127.0.0.1:${stub.address().port}/ok`, kind: 'a', items: [1, 2, 3], dynTask: 'ks_dynamic_target',
  });
  const answers = {
    ks_worker: () => ({ msg: 'worker saw hello' }),
    ks_dyn: (t) => ({ doubled: (t.inputData.input || 0) * 2 }),
    ks_loop_worker: (t) => ({ i: t.iteration, parity: t.iteration % 2 ? 'odd' : 'even' }),
  };
  await api.until('the HUMAN task to wait', async () => {
    for (const type of Object.keys(answers)) {
      const got = await api.get(`/tasks/poll/batch/${type}?count=5&timeout=100&workerid=readme-worker`);
      for (const t of got || []) await api.complete(t, answers[type](t));
    }
    const w = await api.workflow(id);
    return w.tasks.some((t) => t.taskType === 'HUMAN' && t.status === 'IN_PROGRESS');
  }, 30000);
  const page = await openPage(browser, { viewport: { width: 1280, height: 860 } });
  await page.goto(`${server.root}/#/execution/${id}?task=human`);
  await page.waitForSelector('svg [data-ref="human"][data-status="IN_PROGRESS"]');
  await page.evaluate(() => {
    const y = document.querySelector('svg [data-ref="human"]').getBBox().y;
    document.querySelector('.diagram').scrollTop = y - 420;
  });
  mkdirSync(join(repo, 'docs', 'img'), { recursive: true });
  await page.screenshot({ path: join(repo, 'docs', 'img', 'execution.png') });
  console.log('wrote docs/img/execution.png');
} finally {
  await browser.close();
  await server.stop();
  stub.close();
}
