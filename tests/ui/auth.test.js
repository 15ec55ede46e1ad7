// The web UI against a server with authentication on (keys made with `baton keys create`
// before it starts): the sign-in form, roles (an admin sees actions, a viewer none), the live
// feed with a token, signing out, and a revoked key sending the tab back to the sign-in form.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, openPage, screenshot, apiClient, simpleWorkflow } from './harness.js';

let server, browser, admin;
// The browser logs each expected 401 (asking who is signed in before signing in, a wrong
// secret, a revoked key) as a failed resource load; other console errors still fail.
const allowConsole = /status of 401/;

before(async () => {
  server = await startServer({ roles: ['admin', 'viewer', 'operator'] });
  admin = apiClient(server.root, server.keys.admin);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

async function signIn(page, key, secret = key.keySecret) {
  await page.waitForSelector('form.signin');
  await page.fill('#key-id', key.keyId);
  await page.fill('#key-secret', secret);
  await page.click('#signin-submit');
}

const storedToken = (page) => page.evaluate(() => sessionStorage.getItem('baton-token'));

test('a wrong secret shows the error and signs nobody in', { timeout: 120000 }, async () => {
  const page = await openPage(browser, { allowConsole });
  await page.goto(`${server.root}/#/executions`);
  await signIn(page, server.keys.admin, 'not-the-secret');
  await page.waitForFunction(() => document.getElementById('signin-error')?.textContent !== '');
  assert.match(await page.textContent('#signin-error'), /Wrong key id or secret/);
  assert.equal(await storedToken(page), null);
  assert.equal(await page.locator('table.executions').count(), 0, 'no page behind the form');
  assert.equal(await page.inputValue('#key-secret'), '', 'the wrong secret is cleared');
  assert.equal(await page.textContent('#live'), 'signed out');
  await screenshot(page, 'signin-wrong-secret');
  page.checkClean();
});

test('an admin signs in, sees the actions and the live feed, and signs out', { timeout: 120000 }, async () => {
  await admin.register(simpleWorkflow('ui_auth_admin', 'ui_auth_admin_task'));
  const id = await admin.start('ui_auth_admin', {});
  const page = await openPage(browser, { allowConsole });
  await page.goto(`${server.root}/#/execution/${id}`);
  await signIn(page, server.keys.admin);
  await page.waitForSelector('button[data-action="terminate"]');
  assert.match(await page.textContent('#who'), /^admin/);
  assert.ok(await storedToken(page), 'the token is kept for the tab');
  // The change stream works with the token: a worker's claim shows without a reload.
  await page.waitForFunction(() => document.getElementById('live')?.dataset.state === 'live');
  await page.evaluate(() => { window.__sameLoad = true; });
  await admin.pollOne('ui_auth_admin_task');
  await page.waitForFunction(() => document.querySelector('svg [data-ref="work"]')?.dataset.status === 'IN_PROGRESS');
  assert.equal(await page.evaluate(() => window.__sameLoad), true);

  // A reload keeps the session (sessionStorage); the terminate goes through with the token.
  await page.reload();
  await page.waitForSelector('button[data-action="terminate"]');
  await page.click('button[data-action="terminate"]');
  await page.click('dialog #dlg-ok');
  await admin.until('the API to report TERMINATED', async () => (await admin.workflow(id)).status === 'TERMINATED');
  await screenshot(page, 'signed-in-admin');

  await page.click('#signout');
  await page.waitForSelector('form.signin');
  assert.equal(await storedToken(page), null);
  assert.equal(await page.isHidden('#signout'), true);
  assert.equal(await page.textContent('#live'), 'signed out');
  page.checkClean();
});

test('a viewer sees executions and definitions but no action button', { timeout: 120000 }, async () => {
  await admin.register(simpleWorkflow('ui_auth_view', 'ui_auth_view_task'));
  const id = await admin.start('ui_auth_view', {});
  const page = await openPage(browser, { allowConsole });
  await page.goto(`${server.root}/#/execution/${id}`);
  await signIn(page, server.keys.viewer);
  await page.waitForFunction(() => document.querySelector('svg [data-ref="work"]')?.dataset.status === 'SCHEDULED');
  assert.match(await page.textContent('#who'), /^viewer/);
  assert.equal(await page.locator('button[data-action]').count(), 0);
  await page.click('svg [data-ref="work"]');
  await page.waitForSelector('aside.details');
  assert.equal(await page.locator('button[data-task-action]').count(), 0);

  await page.goto(`${server.root}/#/executions`);
  await page.waitForSelector(`table.executions tbody tr[data-id="${id}"]`);
  assert.equal(await page.locator('table.executions input[type=checkbox]').count(), 0, 'no selection');
  assert.equal(await page.locator('button[data-bulk]').count(), 0, 'no bulk actions');

  await page.goto(`${server.root}/#/definitions/ui_auth_view`);
  await page.waitForSelector('#tab-diagram');
  assert.equal(await page.locator('#tab-run').count(), 0);
  assert.equal(await page.locator('#tab-edit').count(), 0);
  await screenshot(page, 'signed-in-viewer');
  page.checkClean();
});

test('an operator may run but not edit definitions', { timeout: 120000 }, async () => {
  await admin.register(simpleWorkflow('ui_auth_op', 'ui_auth_op_task'));
  const page = await openPage(browser, { allowConsole });
  await page.goto(`${server.root}/#/definitions/ui_auth_op`);
  await signIn(page, server.keys.operator);
  await page.waitForSelector('#tab-run');
  assert.equal(await page.locator('#tab-edit').count(), 0);
  page.checkClean();
});

test('revoking the key sends the tab back to the sign-in form', { timeout: 120000 }, async () => {
  const key = JSON.parse(server.keysCli(['create', '--role', 'viewer', '--name', 'soon revoked']));
  await admin.register(simpleWorkflow('ui_auth_revoke', 'ui_auth_revoke_task'));
  const page = await openPage(browser, { allowConsole });
  await page.goto(`${server.root}/#/executions`);
  await signIn(page, key);
  await page.waitForSelector('table.executions');
  await page.waitForFunction(() => document.getElementById('live')?.dataset.state === 'live');
  server.keysCli(['revoke', key.keyId]);
  // The next change makes the list re-read; the revoked key's token gets 401 (the server
  // caches a key for a second, so keep making changes until it does).
  await admin.until('the sign-in form after the revocation', async () => {
    await admin.start('ui_auth_revoke', {});
    await new Promise((r) => { setTimeout(r, 300); });
    return page.locator('form.signin').count();
  });
  assert.match(await page.textContent('#signin-reason'), /session ended/);
  assert.equal(await storedToken(page), null);
  page.checkClean();
});
