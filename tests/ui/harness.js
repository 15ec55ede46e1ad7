// A real `baton server` on 127.0.0.1 (random port, fresh SQLite file), Debian's chromium
// driven by playwright-core, and small API helpers the tests use to play the worker.

import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, openSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
export const repo = join(here, '..', '..');
export const resultsDir = join(here, 'test-results');

/** Bounds of every wait in these tests. */
export const WAIT_MS = 15000;

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

async function until(what, check, ms = WAIT_MS) {
  const deadline = Date.now() + ms;
  let last;
  while (Date.now() < deadline) {
    try {
      const v = await check();
      if (v) return v;
    } catch (e) { last = e; }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}${last ? ` (last error: ${last.message})` : ''}`);
}

/** Starts a server; `roles` (e.g. ['admin', 'viewer']) creates a key of each with `baton keys
 * create` first, which turns authentication on. Answers {root, keys: {role: {keyId,
 * keySecret}}, keysCli(args), stop()}. */
export async function startServer({ roles = [] } = {}) {
  const bin = process.env.BATON_BIN || join(repo, 'target', 'debug', 'baton');
  const dir = mkdtempSync(join(tmpdir(), 'baton-ui-'));
  const db = `sqlite://${join(dir, 'baton.db')}`;
  const keysCli = (args) => execFileSync(bin, ['keys', '--db', db, ...args], { encoding: 'utf8' });
  const keys = {};
  for (const role of roles) keys[role] = JSON.parse(keysCli(['create', '--role', role, '--name', `ui ${role}`]));
  const port = await freePort();
  const log = openSync(join(dir, 'server.log'), 'w');
  const child = spawn(bin, ['server', '--host', '127.0.0.1', '--port', String(port), '--db', db],
    { stdio: ['ignore', log, log] });
  let exited = null;
  child.on('exit', (code, signal) => { exited = { code, signal }; });
  const root = `http://127.0.0.1:${port}`;
  try {
    await until('the server to be healthy', async () => {
      if (exited) throw new Error(`baton server exited: ${JSON.stringify(exited)}`);
      return (await fetch(`${root}/health`)).ok;
    }, 30000);
  } catch (e) {
    child.kill('SIGKILL');
    throw new Error(`${e.message}\n${readFileSync(join(dir, 'server.log'), 'utf8').slice(-3000)}`);
  }
  return {
    root,
    keys,
    keysCli,
    async stop() {
      if (!exited) {
        child.kill('SIGTERM');
        await until('the server to stop', () => exited, 15000).catch(() => child.kill('SIGKILL'));
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    // Root in CI: chromium's own sandbox needs user namespaces it may not have.
    args: ['--no-sandbox', '--disable-dev-shm-usage'],
    timeout: 30000,
  });
}

/** A page whose console errors and failed requests fail the test at `check()`; console
 * errors matching `allowConsole` (e.g. the expected 401 before signing in) do not. */
export async function openPage(browser, { allowConsole = null, ...opts } = {}) {
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 }, ...opts });
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT_MS);
  const problems = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && !(allowConsole && allowConsole.test(m.text()))) problems.push(`console: ${m.text()}`);
  });
  page.checkClean = () => {
    if (problems.length) throw new Error(problems.join('\n'));
  };
  return page;
}

export async function screenshot(page, name) {
  mkdirSync(resultsDir, { recursive: true });
  await page.screenshot({ path: join(resultsDir, `${name}.png`), fullPage: true });
}

/** API calls as a client would make them; with `key` ({keyId, keySecret}) they carry a token
 * from POST /api/token. */
export function apiClient(root, key = null) {
  let token = null;
  async function authHeaders() {
    if (!key) return {};
    if (!token) {
      const res = await fetch(`${root}/api/token`, {
        method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(key),
      });
      if (!res.ok) throw new Error(`POST /api/token: ${res.status} ${await res.text()}`);
      token = (await res.json()).token;
    }
    return { 'X-Authorization': token };
  }
  async function call(method, path, body) {
    const res = await fetch(`${root}/api${path}`, {
      method,
      headers: { ...(await authHeaders()), ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
    if (!text) return null;
    return (res.headers.get('content-type') || '').includes('json') ? JSON.parse(text) : text;
  }
  return {
    call,
    get: (p) => call('GET', p),
    post: (p, b) => call('POST', p, b),
    register: (def) => call('POST', '/metadata/workflow?overwrite=true', def),
    start: (name, input = {}, extra = {}) => call('POST', '/workflow', { name, input, ...extra }),
    workflow: (id) => call('GET', `/workflow/${id}?includeTasks=true`),
    /** Polls one task of `type` as a worker, waiting (bounded) until there is one. */
    async pollOne(type, workerId = 'ui-test-worker') {
      return until(`a ${type} task to poll`, async () => {
        const got = await call('GET', `/tasks/poll/batch/${type}?count=1&timeout=500&workerid=${workerId}`);
        return got && got.length ? got[0] : null;
      });
    },
    complete: (task, output) => call('POST', '/tasks', {
      workflowInstanceId: task.workflowInstanceId, taskId: task.taskId, status: 'COMPLETED', outputData: output,
    }),
    until,
  };
}

export function simpleWorkflow(name, taskType, extra = {}) {
  return {
    name, version: 1, schemaVersion: 2, ownerEmail: 'ui@example.com',
    tasks: [{ name: taskType, taskReferenceName: 'work', type: 'SIMPLE' }],
    ...extra,
  };
}
