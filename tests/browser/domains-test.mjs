// tests/browser/domains-test.mjs — /admin's domain screens, the domain
// visits and their map, in Debian's Chromium through playwright-core,
// against a real `shorty serve` (tests/suites/admin-domains.sh starts it
// with a GeoIP database and X-Forwarded-For believed from 127.0.0.1).
// Env: SHORTY_URL, SHORTY_KEY (an admin key), CHROMIUM, SHORTY_SCREENSHOTS.
//
// A second domain, second.test:<port>, is the same server under another
// name (Chromium maps second.test and target.test to 127.0.0.1). Every
// console message of level error (which includes what the Content-Security-
// Policy refuses) and every securitypolicyviolation event over all the
// screens is collected and must be none; every request must stay on
// 127.0.0.1. Prints one line per check, then "N passed, N failed".
import { request as pwRequest } from 'playwright-core';
import http from 'node:http';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BASE, KEY, endSession, eventually, launch, ok, refuse, step, watchAdmin } from './harness.mjs';

if (!BASE || !KEY) refuse('domains-test: set SHORTY_URL and SHORTY_KEY');


// ---- the target: where long URLs and redirects lead ---------------------------
const target = http.createServer((req, res) => {
  res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
  res.end('<!doctype html><title>target</title><p>target</p>');
});
await new Promise((resolve) => target.listen(0, '127.0.0.1', resolve));
const T = `http://target.test:${target.address().port}`;
const PORT = new URL(BASE).port;
const DEFAULT = new URL(BASE).host; // the default domain: the base URL's authority
const SECOND = `second.test:${PORT}`;
const S2 = `http://${SECOND}`;

const api = await pwRequest.newContext({ baseURL: BASE, extraHTTPHeaders: { 'X-Api-Key': KEY } });
async function rest(method, pathq, data) {
  const r = await api.fetch('/rest/v3' + pathq, { method, data });
  return { status: r.status(), body: r.status() === 200 ? await r.json() : null };
}

// ---- the browser ------------------------------------------------------------------
const shots = process.env.SHORTY_SCREENSHOTS || fs.mkdtempSync(path.join(os.tmpdir(), 'shorty-domains-shots-'));
fs.mkdirSync(shots, { recursive: true });
const browser = await launch(['--host-resolver-rules=MAP target.test 127.0.0.1, MAP second.test 127.0.0.1']);
const requests = [];
const consoleErrors = []; // of the admin's screens, CSP violations among them (harness.mjs)
const pageErrors = [];
async function watched(ctx, name) {
  ctx.on('request', (r) => requests.push(r.url()));
  const p = await ctx.newPage();
  p.setDefaultTimeout(15000);
  p.on('pageerror', (e) => pageErrors.push(`${name}: ${e}`));
  await watchAdmin(p, consoleErrors);
  return p;
}
const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
const page = await watched(ctx, 'admin');
const shot = (name) => page.screenshot({ path: path.join(shots, `${name}.png`), fullPage: true });
const local = (u) => /^(data|blob):/.test(u) || ['127.0.0.1', 'target.test', 'second.test'].includes(new URL(u).hostname);

// Visits "from" a city: a browser whose requests say X-Forwarded-For (shorty
// believes it from 127.0.0.1) lands where the link leads.
async function visitFrom(ip, url) {
  const c = await browser.newContext({ extraHTTPHeaders: { 'X-Forwarded-For': ip } });
  const p = await watched(c, `visit from ${ip}`);
  await p.goto(url);
  const landed = p.url();
  await c.close();
  return landed;
}

// 1. a link on each domain, visited from London and Berlin
const DOM_LONG = `${T}/domains-test/on-second`;
const DEF_LONG = `${T}/domains-test/on-default`;
await step('a link on each domain, followed on its own host', async () => {
  let r = await rest('POST', '/short-urls', { longUrl: DOM_LONG, customSlug: 'dom1', domain: SECOND, tags: ['on-second'] });
  ok(r.status === 200 && r.body.shortUrl === `${S2}/dom1`, 'a link on the second domain', JSON.stringify(r.body));
  r = await rest('POST', '/short-urls', { longUrl: DEF_LONG, customSlug: 'dom1' });
  ok(r.status === 200 && r.body.shortUrl === `${BASE}/dom1`, 'the same code on the default domain');
  ok((await visitFrom('81.2.69.10', `${S2}/dom1`)) === DOM_LONG, 'a visit from London on the second domain lands on its link');
  ok((await visitFrom('2a01:4f8::5', `${S2}/dom1`)) === DOM_LONG, 'a visit from Berlin too');
  ok((await visitFrom('81.2.69.11', `${BASE}/dom1`)) === DEF_LONG, 'the default domain keeps its own link');
  const counted = await eventually(async () => {
    const v = await rest('GET', `/domains/${SECOND}/visits`);
    return v.body && v.body.visits.pagination.totalItems === 2 ? v.body : null;
  });
  ok(counted, 'the second domain has 2 visits');
  ok(counted && counted.visits.data.every((x) => x.visitLocation && ['London', 'Berlin'].includes(x.visitLocation.cityName)),
    'both located', JSON.stringify(counted && counted.visits.data.map((x) => x.visitLocation)));
});

// 2. log in
await step('log in', async () => {
  await page.goto(BASE + '/admin');
  await page.fill('#api-key', KEY);
  await Promise.all([page.waitForURL(BASE + '/admin/overview'), page.click('button[type=submit]')]);
  await page.getByRole('link', { name: 'Manage domains' }).waitFor();
  ok(true, 'the overview opens');
});

// 3. the domains list: the default domain and the second one, both healthy
const domainRow = (d) => page.locator('tbody tr', { has: page.locator('b', { hasText: new RegExp(`^${d.replace(/[.]/g, '\\.')}$`) }) });
await step('the domains list shows the default and the second domain', async () => {
  const health = [];
  const onResp = (r) => { if (r.url().endsWith('/health')) health.push(`${r.url()} ${r.status()}`); };
  page.on('response', onResp);
  await page.getByRole('link', { name: 'Manage domains' }).click();
  await page.waitForURL(BASE + '/admin/manage-domains');
  await domainRow(SECOND).waitFor();
  ok((await page.locator('tbody tr').count()) === 2, 'two rows', await page.locator('tbody tr').count());
  ok((await domainRow(DEFAULT).getByTestId('default-domain-icon').count()) === 1, 'the default domain is marked default');
  ok((await domainRow(SECOND).getByTestId('default-domain-icon').count()) === 0, 'the second is not');
  // the component asks each domain's /rest/health (the page's CSP allows
  // shorty's own domains): both answer, no "missing configuration" mark
  const checked = await eventually(async () =>
    (await page.getByTestId('domain-health-loader').count()) === 0 &&
    health.some((h) => h.startsWith(`${S2}/rest/v3/health 200`)));
  ok(checked, 'the second domain\'s health is checked on its own host', health.join(' '));
  ok((await page.locator('tbody tr .text-danger').count()) === 0, 'no domain is shown as misconfigured');
  page.off('response', onResp);
  await shot('1-domains');
});

// 4. the second domain's redirects, edited through the component, followed
await step('edit the second domain\'s redirects and follow them', async () => {
  await domainRow(SECOND).getByRole('button', { name: 'Options' }).click();
  await page.getByRole('menuitem', { name: 'Edit redirects' }).click();
  const dialog = page.locator('dialog[open]');
  await dialog.waitFor();
  await dialog.getByLabel('Base URL').fill(`${T}/base`);
  await dialog.getByLabel('Regular 404').fill(`${T}/regular-404`);
  await dialog.getByLabel('Invalid short URL').fill(`${T}/invalid`);
  await shot('2-edit-redirects');
  await dialog.getByRole('button', { name: 'Save' }).click();
  await dialog.waitFor({ state: 'detached' });
  const stored = await eventually(async () => {
    const r = await rest('GET', '/domains');
    const d = r.body && r.body.domains.data.find((x) => x.domain === SECOND);
    return d && d.redirects.baseUrlRedirect ? d.redirects : null;
  });
  ok(stored && stored.baseUrlRedirect === `${T}/base` && stored.regular404Redirect === `${T}/regular-404` &&
    stored.invalidShortUrlRedirect === `${T}/invalid`, 'the three redirects are stored', JSON.stringify(stored));
  ok((await domainRow(SECOND).innerText()).includes(`${T}/base`), 'the row shows the base URL redirect');
  await shot('2-redirects-saved');
  const v = await watched(ctx, 'follow');
  await v.goto(`${S2}/`);
  ok(v.url() === `${T}/base`, 'the second domain\'s / goes to its base URL redirect', v.url());
  await v.goto(`${S2}/no/such/path`);
  ok(v.url() === `${T}/regular-404`, 'a path that is no short URL goes to its regular 404 redirect', v.url());
  await v.goto(`${S2}/nosuchcode`);
  ok(v.url() === `${T}/invalid`, 'an unknown code goes to its invalid short URL redirect', v.url());
  await v.goto(`${S2}/dom1`);
  ok(v.url() === DOM_LONG, 'its link still redirects', v.url());
  const home = await v.goto(`${BASE}/`);
  ok(v.url() === `${BASE}/` && home.status() === 200, 'the default domain\'s / is still shorty\'s page', v.url());
  await v.close();
});

// 5. the second domain's visits, their locations and the map
await step('the second domain\'s visits, by location, on the map', async () => {
  // step 4's visit reaches the store within about a second
  await eventually(async () => (await rest('GET', `/domains/${SECOND}/visits`)).body.visits.pagination.totalItems === 3);
  await page.getByRole('link', { name: 'Manage domains' }).click();
  await domainRow(SECOND).getByRole('button', { name: 'Options' }).click();
  await page.getByRole('menuitem', { name: 'Visit stats' }).click();
  await page.waitForURL(new RegExp(`/admin/domain/${SECOND.replace(/[.]/g, '\\.')}/visits`));
  // London, Berlin, and step 4's visit from 127.0.0.1 (no location)
  const three = await eventually(async () => /Visits: 3\b/.test(await page.locator('body').innerText()));
  ok(three, 'the domain\'s visits view says 3 visits');
  await shot('3-domain-visits');
  await page.getByText('By location', { exact: true }).click();
  await page.waitForURL(/\/visits\/by-location/);
  await shot('4-domain-locations');
  // the charts' labels are SVG text
  const cities = page.locator('[role=document]', { hasText: 'Cities' });
  const countries = page.locator('[role=document]', { hasText: 'Countries' });
  const cityText = await eventually(async () => {
    const t = await cities.textContent();
    return t.includes('London') && t.includes('Berlin') ? t : null;
  });
  ok(cityText, 'the cities are London and Berlin', await cities.textContent());
  const ctext = await countries.textContent(); // a long label is split in lines (tspans)
  ok(/United\s*Kingdom/.test(ctext) && ctext.includes('Germany'), 'the countries are the United Kingdom and Germany', ctext);
  await cities.getByRole('button', { name: 'Show in map' }).click();
  const dialog = page.locator('dialog[open]');
  await dialog.locator('.leaflet-container').waitFor();
  const markers = dialog.locator('.leaflet-marker-icon');
  await eventually(async () => (await markers.count()) === 2);
  ok((await markers.count()) === 2, 'the map has a marker per city', await markers.count());
  ok((await markers.first().getAttribute('src') || '').startsWith('data:image/png'), 'the markers are drawn from the bundle');
  ok((await dialog.locator('.leaflet-tile').count()) === 0, 'no map tile is loaded');
  ok(/No map background/.test(await dialog.getByRole('note').innerText()), 'a note says why the map has no background');
  await markers.first().click();
  ok(/visit.? from (London|Berlin)/.test(await dialog.locator('.leaflet-popup-content').innerText()),
    'a marker\'s pop-up names its city');
  await shot('5-map');
  await dialog.getByRole('button', { name: 'Close dialog' }).click();
});

// 6. the default domain's visits (DEFAULT)
await step('the default domain\'s visits', async () => {
  await page.getByRole('link', { name: 'Manage domains' }).click();
  await domainRow(DEFAULT).getByRole('button', { name: 'Options' }).click();
  await page.getByRole('menuitem', { name: 'Visit stats' }).click();
  await page.waitForURL(/\/admin\/domain\/.*_DEFAULT\/visits/);
  const one = await eventually(async () => /Visits: 1\b/.test(await page.locator('body').innerText()));
  ok(one, 'the default domain\'s visits view says 1 visit');
  await shot('6-default-domain-visits');
});

// 7. the other main screens, for console errors and CSP refusals
const SCREENS = [
  ['overview', '/admin/overview', 'Visits'],
  ['short URLs', '/admin/list-short-urls/1', 'dom1'],
  ['create', '/admin/create-short-url', 'URL to be shortened'],
  ['tags', '/admin/manage-tags', 'on-second'],
  ['orphan visits', '/admin/orphan-visits/by-time', 'Visits'],
  ['non-orphan visits', '/admin/non-orphan-visits/by-time', 'Visits'],
  ['a short URL\'s visits', `/admin/short-code/dom1/visits/by-location?domain=${SECOND}`, 'London'],
  ['a short URL\'s redirect rules', '/admin/short-code/dom1/redirect-rules', 'Save rules'],
  ['a short URL\'s edit form', `/admin/short-code/dom1/edit?domain=${SECOND}`, 'Save'],
];
await step('every main screen renders', async () => {
  for (const [name, p, text] of SCREENS) {
    await page.goto(BASE + p);
    const seen = await eventually(async () => (await page.locator('body').innerText()).includes(text) ||
      (await page.getByPlaceholder(text).count()) > 0);
    ok(seen, `${name} (${p}) shows "${text}"`);
  }
});

ok(consoleErrors.length === 0, 'no console error nor CSP violation on any of the admin\'s screens',
  consoleErrors.join('\n  '));
ok(pageErrors.length === 0, 'no JavaScript error', pageErrors.join('; '));
const leaving = requests.filter((u) => !local(u));
ok(leaving.length === 0, 'no request left 127.0.0.1', leaving.join(' '));
console.log(`     (${requests.length} requests)`);

await endSession({ browser, api, target, shots });
