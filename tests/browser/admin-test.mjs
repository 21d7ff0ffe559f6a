// tests/browser/admin-test.mjs — drives shorty's /admin (Shlink's web
// component, admin/) in a real browser: Debian's Chromium through
// playwright-core, against a real `shorty serve`. Env: SHORTY_URL,
// SHORTY_KEY (an admin key), CHROMIUM (default /usr/bin/chromium),
// SHORTY_SCREENSHOTS (a folder for the screens; default a temp dir, removed).
// Every long URL points at a tiny HTTP server of this script on 127.0.0.1,
// and every request the browser makes is recorded: nothing may leave
// 127.0.0.1. Prints one line per check and ends with "N passed, N failed".
import { request as pwRequest } from 'playwright-core';
import http from 'node:http';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BASE, KEY, endSession, eventually, launch, ok, refuse, step, watchAdmin } from './harness.mjs';

if (!BASE || !KEY) refuse('admin-test: set SHORTY_URL and SHORTY_KEY');


// ---- the target: where the long URLs lead --------------------------------
const hits = [];
const target = http.createServer((req, res) => {
  hits.push(req.url);
  res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
  res.end('<!doctype html><title>target</title><p id=where>target</p>');
});
await new Promise((resolve) => target.listen(0, '127.0.0.1', resolve));
// By a name of its own, which Chromium maps to 127.0.0.1 (--host-resolver-
// rules): shorty refuses loopback addresses as its own names (a redirect loop).
const T = `http://target.test:${target.address().port}`;

// ---- the REST API, to check what the admin did -----------------------------
const api = await pwRequest.newContext({ baseURL: BASE, extraHTTPHeaders: { 'X-Api-Key': KEY } });
async function rest(pathq) {
  const r = await api.get('/rest/v3' + pathq);
  return { status: r.status(), body: r.status() === 200 ? await r.json() : null };
}

// ---- the browser --------------------------------------------------------------
const shots = process.env.SHORTY_SCREENSHOTS || fs.mkdtempSync(path.join(os.tmpdir(), 'shorty-admin-shots-'));
fs.mkdirSync(shots, { recursive: true });
const browser = await launch(['--host-resolver-rules=MAP target.test 127.0.0.1']);
const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
const requests = []; // every URL the browser asked for, in order
ctx.on('request', (r) => requests.push(r.url()));
const page = await ctx.newPage();
page.setDefaultTimeout(15000);
const pageErrors = [];
page.on('pageerror', (e) => pageErrors.push(String(e)));
// every console error and CSP violation of the admin's screens, over the
// session; expected: the 401s of the wrong and the revoked key (steps 2, 11)
const consoleErrors = [];
await watchAdmin(page, consoleErrors, (text, at) =>
  /status of 401/.test(text) && /\/rest\/v3\/short-urls\?itemsPerPage=1$/.test(at));
async function shot(name) {
  await page.screenshot({ path: path.join(shots, `${name}.png`), fullPage: true });
}
const sessionKey = () => page.evaluate(() => sessionStorage.getItem('shorty.apiKey'));
const localHasKey = (k) => page.evaluate((k) =>
  Object.keys(localStorage).some((n) => (localStorage.getItem(n) || '').includes(k)), k);
const own = (u) => u.startsWith(BASE + '/') || u === BASE;
const local = (u) => /^(data|blob):/.test(u) || ['127.0.0.1', 'target.test'].includes(new URL(u).hostname);

// 1. the page loads from shorty alone
await step('the login page loads from this server only', async () => {
  const t0 = Date.now();
  const r = await page.goto(BASE + '/admin');
  ok(r.status() === 200, 'GET /admin answers 200', r.status());
  await page.waitForSelector('#api-key');
  // time to first render: from the start of the navigation to the form
  const ms = await page.evaluate(() => Math.round(performance.now()));
  console.log(`     (login form rendered ${ms} ms after the navigation started; ${Date.now() - t0} ms wall)`);
  ok(await page.evaluate(() => document.activeElement && document.activeElement.id === 'api-key'),
    'the key field has the focus');
  ok((await page.getByLabel('API key').count()) === 1, 'the key field has a label');
  const foreign = requests.filter((u) => !own(u));
  ok(requests.length >= 3 && foreign.length === 0, 'every request of the page went to shorty itself',
    `${requests.length} requests; foreign: ${foreign.join(' ')}`);
  await shot('1-login');
});

// 2. a wrong key is refused, with a message
await step('a wrong key is refused', async () => {
  await page.fill('#api-key', 'shorty_not-a-real-key');
  await page.click('button[type=submit]');
  const msg = page.locator('#login-error');
  await msg.waitFor();
  ok(/not valid/i.test(await msg.textContent()), 'the page says the key is not valid', await msg.textContent());
  ok((await msg.getAttribute('role')) === 'alert', 'the message is announced (role=alert)');
  ok((await sessionKey()) === null, 'no key is kept');
  ok((await page.locator('#api-key').count()) === 1, 'the form stays to try again');
  await shot('2-wrong-key');
});

// 3. the right key opens the admin
await step('log in with a key', async () => {
  await page.fill('#api-key', KEY);
  await Promise.all([page.waitForURL(BASE + '/admin/overview'), page.click('button[type=submit]')]);
  await page.getByRole('link', { name: 'List short URLs' }).waitFor();
  ok(true, 'the overview opens');
  ok((await sessionKey()) === KEY, 'the key is kept in sessionStorage');
  ok(!(await localHasKey(KEY)), 'the key is not in localStorage');
  // a reload keeps the session: no form again
  await page.reload();
  await page.getByRole('link', { name: 'List short URLs' }).waitFor();
  ok((await page.locator('#api-key').count()) === 0, 'a reload stays logged in');
  await shot('3-overview');
});

// 4. create a link in the admin
const LONG = `${T}/admin-test/landing?n=${Date.now()}`;
const SLUG = `adm${Date.now() % 1000000}`;
const SHORT = `${BASE}/${SLUG}`;
await step('create a link in the admin', async () => {
  await page.getByRole('link', { name: 'Create short URL' }).click();
  await page.waitForURL(BASE + '/admin/create-short-url');
  await page.fill('input[placeholder="URL to be shortened"]', LONG);
  await page.fill('input[placeholder="Custom slug"]', SLUG);
  await page.fill('input[placeholder="Title"]', 'Made by the admin test');
  await page.fill('input[placeholder="Add tags to the URL"]', 'alpha');
  await page.keyboard.press('Enter');
  await page.click('form[name=shortUrlForm] button[type=submit]');
  const done = page.getByText('The short URL is');
  await done.waitFor();
  ok((await done.textContent()).includes(SHORT), 'the admin shows the new short URL', await done.textContent());
  const r = await rest(`/short-urls/${SLUG}`);
  ok(r.status === 200 && r.body.longUrl === LONG, 'the link exists with its URL', JSON.stringify(r.body));
  ok(r.body && JSON.stringify(r.body.tags) === '["alpha"]', 'the link has its tag', JSON.stringify(r.body && r.body.tags));
  ok(r.body && r.body.title === 'Made by the admin test', 'the link has its title');
  await shot('4-created');
});

// 5. see it in the list
const row = () => page.locator('tbody tr', { hasText: SHORT });
await step('see it in the list', async () => {
  await page.getByRole('link', { name: 'List short URLs' }).click();
  await row().waitFor();
  ok((await row().count()) === 1, 'the list has one row for the link');
  const title = row().getByRole('link', { name: 'Made by the admin test' });
  ok((await title.count()) === 1 && (await title.getAttribute('href')) === LONG,
    'the row shows the title, linked to the long URL');
  ok((await row().getByText('alpha', { exact: true }).count()) === 1, 'the row shows the tag');
  await shot('5-list');
});

// 6. edit its tags
await step('edit its tags', async () => {
  await row().getByRole('button', { name: 'Options' }).click();
  await page.getByRole('menuitem', { name: 'Edit short URL' }).click();
  await page.waitForURL(`${BASE}/admin/short-code/${SLUG}/edit`);
  const tags = page.locator('input[placeholder="Add tags to the URL"]');
  await tags.waitFor();
  await tags.fill('beta');
  await page.keyboard.press('Enter');
  await page.click('form[name=shortUrlForm] button[type=submit]');
  const ok1 = await eventually(async () => {
    const r = await rest(`/short-urls/${SLUG}`);
    return r.body && JSON.stringify(r.body.tags) === '["alpha","beta"]';
  });
  ok(ok1, 'the link has the tags alpha and beta');
  await shot('6-edit');
});

// Opens the list, the link's row menu, and `item` in it; returns the dialog
// the item opens.
async function fromRowMenu(item) {
  await page.getByRole('link', { name: 'List short URLs' }).click();
  await row().waitFor();
  await row().getByRole('button', { name: 'Options' }).click();
  await page.getByRole('menuitem', { name: item }).click();
  const dialog = page.locator('dialog[open]');
  await dialog.waitFor();
  return dialog;
}

// 7. its QR code
await step('open its QR code', async () => {
  const dialog = await fromRowMenu('QR code');
  ok((await dialog.getByRole('link', { name: SHORT }).count()) === 1, 'the dialog names the short URL');
  const canvas = dialog.locator('canvas');
  await canvas.waitFor();
  // a QR code: both dark and light pixels on the canvas
  const tones = await eventually(() => canvas.evaluate((c) => {
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let dark = 0, light = 0;
    for (let i = 0; i < d.length; i += 4) {
      if (d[i + 3] > 128 && d[i] < 64) dark++;
      else if (d[i + 3] > 128 && d[i] > 192) light++;
    }
    return dark > 1000 && light > 1000 ? { dark, light } : null;
  }));
  ok(tones, 'the dialog draws a QR code', JSON.stringify(tones));
  await shot('7-qr-code');
  await dialog.getByRole('button', { name: 'Close dialog' }).click();
  await dialog.waitFor({ state: 'detached' });
});

// 8. three visits, seen in its visits view
await step('follow the short link three times and see 3 visits', async () => {
  const v = await browser.newPage();
  for (let i = 0; i < 3; i++) {
    await v.goto(SHORT);
    ok(v.url() === LONG, `visit ${i + 1} lands on the long URL`, v.url());
  }
  await v.close();
  await eventually(async () => (await rest(`/short-urls/${SLUG}`)).body.visitsSummary.total === 3);
  await page.goto(`${BASE}/admin/short-code/${SLUG}/visits`);
  await page.waitForURL(`${BASE}/admin/short-code/${SLUG}/visits/by-time`);
  const seen = await eventually(async () => {
    const t = await page.locator('.container').innerText();
    return /Visits: 3\b/.test(t) && /Visits \(3\)/.test(t);
  });
  ok(seen, 'the visits view says 3 visits and charts them');
  await shot('8-visits-chart');
  await page.locator(`a[href="/admin/short-code/${SLUG}/visits/list"]`).click();
  await page.waitForURL(`${BASE}/admin/short-code/${SLUG}/visits/list`);
  const rows = page.locator('table tbody tr');
  await eventually(async () => (await rows.count()) === 3);
  ok((await rows.count()) === 3, 'the visits list has 3 rows', await rows.count());
  await shot('8-visits-list');
});

// 8b. a device redirect rule, made in the admin's rules screen, followed as Android
const ANDROID_LONG = `${T}/admin-test/android`;
const ANDROID_UA = 'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) ' +
  'Chrome/126.0.0.0 Mobile Safari/537.36';
await step('add a device redirect rule and follow it with an Android user agent', async () => {
  await page.getByRole('link', { name: 'List short URLs' }).click();
  await row().waitFor();
  await row().getByRole('button', { name: 'Options' }).click();
  await page.getByRole('menuitem', { name: 'Manage redirect rules' }).click();
  await page.waitForURL(`${BASE}/admin/short-code/${SLUG}/redirect-rules`);
  await page.getByRole('button', { name: 'Add rule' }).click();
  const dialog = page.locator('dialog[open]');
  await dialog.waitFor();
  await dialog.getByLabel('Long URL:').fill(ANDROID_LONG);
  await dialog.getByRole('button', { name: 'Add condition' }).click();
  await dialog.getByLabel('Type:', { exact: true }).selectOption('device');
  await dialog.getByLabel('Device type:').selectOption('android');
  await shot('8b-redirect-rule');
  await dialog.getByRole('button', { name: 'Confirm' }).click();
  await dialog.waitFor({ state: 'detached' });
  await page.getByRole('button', { name: 'Save rules' }).click();
  const want = JSON.stringify([{ longUrl: ANDROID_LONG, priority: 1,
    conditions: [{ type: 'device', matchKey: null, matchValue: 'android' }] }]);
  const saved = await eventually(async () => {
    const r = await rest(`/short-urls/${SLUG}/redirect-rules`);
    return r.body && JSON.stringify(r.body.redirectRules) === want ? r.body : null;
  });
  ok(saved, 'the rule is stored as made', JSON.stringify((await rest(`/short-urls/${SLUG}/redirect-rules`)).body));
  ok(saved && saved.defaultLongUrl === LONG, 'the default long URL is the link\'s own');
  await shot('8b-redirect-rules-saved');
  const phone = await browser.newContext({ userAgent: ANDROID_UA });
  phone.on('request', (r) => requests.push(r.url()));
  const p = await phone.newPage();
  await p.goto(SHORT);
  ok(p.url() === ANDROID_LONG, 'an Android browser lands on the rule\'s URL', p.url());
  await phone.close();
  const v = await browser.newPage();
  await v.goto(SHORT);
  ok(v.url() === LONG, 'a desktop browser still lands on the link\'s own URL', v.url());
  await v.close();
});

// 9. rename a tag
await step('rename a tag', async () => {
  await page.getByRole('link', { name: 'Manage tags' }).click();
  const tagRow = page.locator('tbody tr', { hasText: 'beta' });
  await tagRow.waitFor();
  await tagRow.getByRole('button', { name: 'Options' }).click();
  await page.getByRole('menuitem', { name: 'Edit' }).click();
  const dialog = page.locator('dialog[open]');
  await dialog.waitFor();
  const input = dialog.locator('input[type=text], input:not([type])').first();
  await input.fill('gamma');
  await shot('9-rename-tag');
  await dialog.getByRole('button', { name: 'Save' }).click();
  await page.locator('tbody tr', { hasText: 'gamma' }).waitFor();
  const r = await rest(`/short-urls/${SLUG}`);
  ok(JSON.stringify(r.body.tags) === '["alpha","gamma"]', 'the link now has alpha and gamma',
    JSON.stringify(r.body.tags));
  const t = await rest('/tags');
  ok(t.body.tags.data.includes('gamma') && !t.body.tags.data.includes('beta'), 'the tag list has gamma, not beta',
    JSON.stringify(t.body.tags.data));
});

// 10. delete the link
await step('delete the link', async () => {
  const dialog = await fromRowMenu('Delete short URL');
  await shot('10-delete');
  ok(/Type delete to confirm/.test(await dialog.innerText()), 'the dialog asks to type delete');
  await dialog.locator('input').fill('delete');
  await dialog.getByRole('button', { name: 'Delete' }).click();
  await row().waitFor({ state: 'detached' });
  ok((await rest(`/short-urls/${SLUG}`)).status === 404, 'the link is gone (REST answers 404)');
  ok((await api.get('/' + SLUG, { maxRedirects: 0 })).status() === 404, 'the short link answers 404');
});

// 11. log out
await step('log out', async () => {
  await page.getByRole('button', { name: 'Log out' }).click();
  await page.locator('#api-key').waitFor();
  ok((await sessionKey()) === null, 'the key is dropped from sessionStorage');
  // a key kept in the session that is no longer valid (revoked): asked again
  await page.evaluate(() => sessionStorage.setItem('shorty.apiKey', 'shorty_revoked-meanwhile'));
  await page.reload();
  const msg = page.locator('#login-error');
  await msg.waitFor();
  ok(/no longer valid/.test(await msg.textContent()), 'a kept key that is no longer valid is asked for again',
    await msg.textContent());
  ok((await sessionKey()) === null, 'and dropped from sessionStorage');
});

// the whole session
const leaving = requests.filter((u) => !local(u));
ok(leaving.length === 0, 'no request left 127.0.0.1 during the whole session', leaving.join(' '));
ok(pageErrors.length === 0, 'no JavaScript error', pageErrors.join('; '));
ok(consoleErrors.length === 0, 'no console error nor CSP violation on the admin\'s screens',
  consoleErrors.join('\n  '));
console.log(`     (${requests.length} requests)`);

await endSession({ browser, api, target, shots });
