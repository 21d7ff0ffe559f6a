// tests/browser/page-test.mjs — drives shorty's web page at / in a real
// browser: Debian's Chromium (/usr/bin/chromium) through playwright-core
// (no browser download). Env: SHORTY_URL (the running `shorty serve`),
// SHORTY_KEY (an admin key: used only to look links up through the REST API,
// and to give one a title for the preview page), CHROMIUM (default
// /usr/bin/chromium), SHORTY_SCREENSHOTS (a folder; default a temp dir).
// Every long URL points at a tiny HTTP server of this script on 127.0.0.1,
// so nothing leaves the machine. Prints one line per check and ends with
// "N passed, N failed"; exits 1 on any failure.
import { chromium, request as pwRequest } from 'playwright-core';
import http from 'node:http';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const BASE = (process.env.SHORTY_URL || '').replace(/\/+$/, '');
const KEY = process.env.SHORTY_KEY || '';
const EXE = process.env.CHROMIUM || '/usr/bin/chromium';
if (!BASE) {
  console.log('page-test: set SHORTY_URL');
  console.log('0 passed, 1 failed');
  process.exit(1);
}

let passed = 0;
let failed = 0;
function ok(cond, name, detail) {
  if (cond) {
    passed++;
    console.log(`ok   ${name}`);
  } else {
    failed++;
    console.log(`FAIL ${name}${detail === undefined ? '' : ': ' + detail}`);
  }
  return !!cond;
}
async function check(name, fn) {
  try {
    await fn();
  } catch (e) {
    ok(false, name, (e && e.stack) || String(e));
  }
}

// ---- the target: where the long URLs lead --------------------------------
const target = http.createServer((req, res) => {
  const body = `<!doctype html><title>target</title><p id=where>${req.url
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')}</p>`;
  res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
  res.end(body);
});
await new Promise((resolve) => target.listen(0, '127.0.0.1', resolve));
// By a name of its own, which Chromium maps to 127.0.0.1 (--host-resolver-
// rules below): shorty refuses loopback addresses as its own names (a
// redirect loop), whatever the port.
const T = `http://target.test:${target.address().port}`;

// ---- the REST API, to see which links exist -------------------------------
const api = await pwRequest.newContext({
  baseURL: BASE,
  extraHTTPHeaders: KEY ? { 'X-Api-Key': KEY } : {},
});
async function linksTo(longUrl) {
  const r = await api.get('/rest/v3/short-urls', {
    params: { itemsPerPage: 1000, searchTerm: longUrl },
  });
  if (r.status() !== 200) throw new Error(`REST list answered ${r.status()}`);
  const j = await r.json();
  return j.shortUrls.data.filter((s) => s.longUrl === longUrl);
}
async function linkCount() {
  const r = await api.get('/rest/v3/short-urls', { params: { itemsPerPage: 1 } });
  if (r.status() !== 200) throw new Error(`REST list answered ${r.status()}`);
  return (await r.json()).shortUrls.pagination.totalItems;
}

// ---- the browser ------------------------------------------------------------
const shots = process.env.SHORTY_SCREENSHOTS || fs.mkdtempSync(path.join(os.tmpdir(), 'shorty-shots-'));
fs.mkdirSync(shots, { recursive: true });
// launch() gives Chromium a fresh temp --user-data-dir of its own (and
// removes it on close); it refuses one passed in args.
const browser = await chromium.launch({
  executablePath: EXE,
  headless: true,
  timeout: 20000,
  args: [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--host-resolver-rules=MAP target.test 127.0.0.1',
  ],
});

const dialogs = [];
const pageErrors = [];
function watch(page) {
  page.on('dialog', (d) => {
    dialogs.push(`${d.type()}: ${d.message()}`);
    d.dismiss().catch(() => {});
  });
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  page.setDefaultTimeout(10000);
}

const ctx = await browser.newContext({ viewport: { width: 1024, height: 700 } });
const page = await ctx.newPage();
watch(page);

// Types `url` into the form at / and submits it; returns the response of the
// form's POST. With novalidate, the browser's own URL check is turned off
// first (as a browser that does not check would send it).
async function submit(p, url, { novalidate = false, enter = false } = {}) {
  const r0 = await p.goto(BASE + '/');
  if (r0.status() !== 200) throw new Error(`GET / answered ${r0.status()}`);
  await p.fill('#url', url);
  if (novalidate) await p.$eval('form', (f) => (f.noValidate = true));
  const [resp] = await Promise.all([
    p.waitForNavigation(),
    enter ? p.press('#url', 'Enter') : p.click('button[type=submit]'),
  ]);
  return resp;
}
async function noHorizontalScroll(p) {
  return p.evaluate(() => document.documentElement.scrollWidth <= document.documentElement.clientWidth);
}
async function injected(p) {
  // elements that only markup injected from a stored/echoed string would add
  return p.evaluate(
    () => document.querySelectorAll('script, iframe, object, embed, img[src="x"], b, [onerror], [onload]').length,
  );
}

// 1. the page
await check('GET / shows the form', async () => {
  const r = await page.goto(BASE + '/');
  ok(r.status() === 200, 'GET / answers 200', r.status());
  ok((r.headers()['content-type'] || '').startsWith('text/html'), 'GET / is text/html', r.headers()['content-type']);
  const input = page.locator('form input[name=url]');
  ok((await input.count()) === 1 && (await input.isVisible()), 'the page has a visible URL field');
  ok((await page.getByLabel('Long URL').count()) === 1, 'the URL field has a label');
  ok(await page.locator('form button[type=submit]').isVisible(), 'the page has a visible submit button');
  ok((await page.$eval('form', (f) => f.method + ' ' + new URL(f.action).pathname)) === 'post /api/shorten',
    'the form POSTs to /api/shorten');
  ok(await page.evaluate(() => document.activeElement && document.activeElement.id === 'url'),
    'the URL field has the focus');
  const external = await page.evaluate(() =>
    [...document.querySelectorAll('[src],[href]')]
      .map((e) => e.getAttribute('src') || e.getAttribute('href'))
      .filter((u) => /^([a-z]+:)?\/\//i.test(u)));
  ok(external.length === 0, 'the page loads no external assets', external.join(' '));
  await page.screenshot({ path: path.join(shots, '1-index.png'), fullPage: true });
});

// 2. shorten a long URL, follow the short link
const LONG = `${T}/landing/a/rather/long/path/to/somewhere?utm_source=browser-test&n=${Date.now()}`;
let SHORT = '';
await check('shorten a URL through the form', async () => {
  const resp = await submit(page, LONG);
  ok(resp.status() === 200, 'the form POST answers 200', resp.status());
  const a = page.locator('a#short');
  ok((await a.count()) === 1 && (await a.isVisible()), 'the result page shows the short link');
  SHORT = (await a.getAttribute('href')) || '';
  const text = ((await a.textContent()) || '').trim();
  ok(SHORT.startsWith(BASE + '/') && SHORT.length > BASE.length + 1, 'the short link is under the base URL', SHORT);
  ok(text === SHORT, 'the link text is the short URL itself (copyable as shown)', `${text} vs ${SHORT}`);
  ok(((await page.locator('code').first().textContent()) || '') === LONG, 'the result page says where it leads');
  ok(await noHorizontalScroll(page), 'the result page does not scroll sideways');
  await page.screenshot({ path: path.join(shots, '2-result.png'), fullPage: true });
  const links = KEY ? await linksTo(LONG) : null;
  if (links) ok(links.length === 1 && SHORT.endsWith('/' + links[0].shortCode), 'the REST API has exactly that link');
});

await check('the short link redirects to the long URL', async () => {
  if (!SHORT) return ok(false, 'the short link redirects', 'no short link');
  const r = await page.request.get(SHORT, { maxRedirects: 0 });
  ok([301, 302, 303, 307, 308].includes(r.status()), 'the short link answers a redirect', r.status());
  ok(r.headers()['location'] === LONG, 'Location is the long URL', r.headers()['location']);
  // and a click in the browser lands there
  await page.goBack().catch(() => {});
  if (!page.url().startsWith(BASE + '/api/shorten') || (await page.locator('a#short').count()) === 0) {
    await submit(page, LONG); // findIfExists or a new code: either leads to LONG
  }
  await Promise.all([page.waitForURL(LONG), page.click('a#short')]);
  ok(page.url() === LONG, 'clicking the short link lands on the long URL', page.url());
  ok((await page.textContent('#where')) === new URL(LONG).pathname + new URL(LONG).search,
    'the target page got the path and query');
});

await check('Enter in the field submits the form', async () => {
  const u = `${T}/enter-key`;
  const resp = await submit(page, u, { enter: true });
  ok(resp.status() === 200 && (await page.locator('a#short').count()) === 1, 'Enter creates a link', resp.status());
});

// 3. rejected URLs: a clear error, no link
async function rejected(name, url, { expect, novalidate = false }) {
  await check(name, async () => {
    const before = KEY ? await linkCount() : 0;
    await page.goto(BASE + '/');
    await page.fill('#url', url);
    const browserAccepts = await page.$eval('#url', (i) => i.checkValidity());
    const resp = await submit(page, url, { novalidate: novalidate || !browserAccepts });
    ok(resp.status() === 400, `${name}: answers 400`, resp.status());
    const err = page.locator('.err');
    const msg = ((await err.count()) ? await err.first().textContent() : '') || '';
    ok((await err.count()) === 1 && (await err.first().isVisible()) && expect.test(msg),
      `${name}: the page shows a clear error`, JSON.stringify(msg));
    ok((await page.locator('a#short').count()) === 0, `${name}: the page shows no short link`);
    ok((await page.locator('form input[name=url]').count()) === 1, `${name}: the form is there to try again`);
    ok((await page.inputValue('#url')) === url, `${name}: the field keeps the URL to correct`,
      JSON.stringify(await page.inputValue('#url')));
    if (KEY) ok((await linkCount()) === before, `${name}: no link was created`);
  });
}
await rejected('URL with credentials', `http://user:pass@127.0.0.1:${new URL(T).port}/secret`, {
  expect: /credential/i,
});
await rejected('javascript: URL', 'javascript:alert(1)', { expect: /http/i });
await rejected('empty URL (browser check off)', '', { expect: /enter the url/i, novalidate: true });
const errShot = path.join(shots, '3-error.png');
await rejected('relative URL (browser check off)', '/just/a/path', { expect: /./, novalidate: true });
await page.screenshot({ path: errShot, fullPage: true }).catch(() => {});

await rejected('rejected URL with markup (echoed in the field)',
  `http://u:p@127.0.0.1/"><script>alert(1)</script><img/src=x/onerror=alert(2)>'`, { expect: /credential/i });
await check('the echoed URL injected nothing', async () => {
  ok((await injected(page)) === 0, 'no element was injected from the echoed URL');
});

await check('the browser itself refuses a non-URL', async () => {
  await page.goto(BASE + '/');
  await page.fill('#url', 'not a url');
  await page.click('button[type=submit]');
  await page.waitForTimeout(200);
  ok(new URL(page.url()).pathname === '/', 'the form is not sent', page.url());
  ok(await page.$eval('#url', (i) => !i.checkValidity()), 'the field is marked invalid');
});

// 4. markup characters are shown as text, never run
await check('<script> characters in a URL are shown escaped', async () => {
  const u = `${T}/x?q="'><script>alert(1)</script><img/src=x/onerror=alert(2)><b>bold</b>&r=</code><b>`;
  const resp = await submit(page, u);
  ok(resp.status() === 200, 'the URL is accepted', resp.status());
  const shown = (await page.locator('code').first().textContent()) || '';
  const href = (await page.locator('a#short').getAttribute('href')) || '';
  const loc = href ? (await page.request.get(href, { maxRedirects: 0 })).headers()['location'] : '';
  ok(shown === loc, 'the page shows exactly the stored URL', `${shown} vs ${loc}`);
  ok(shown.includes("'") && /script/.test(shown), 'quotes and the word script are shown as text', shown);
  ok((await injected(page)) === 0, 'no element was injected from the URL');
  ok((await page.locator('code').count()) === 1 && (await page.locator('a').count()) === 1,
    'the result page has its one link and one code element');
});

await check('<script> characters in a title are shown escaped (preview page)', async () => {
  if (!KEY) return console.log('skip preview title check (no SHORTY_KEY)');
  const title = `<script>alert(1)</script><img src=x onerror=alert(2)> "quoted" & 'single'`;
  const r = await api.post('/rest/v3/short-urls', { data: { longUrl: `${T}/titled`, title } });
  ok(r.status() === 200, 'REST create with a title', r.status());
  const code = (await r.json()).shortCode;
  const resp = await page.goto(`${BASE}/${code}+`);
  ok(resp.status() === 200, 'the preview page answers 200', resp.status());
  ok((await page.getByText(title, { exact: true }).count()) === 1, 'the title is shown as text, exactly');
  ok((await injected(page)) === 0, 'no element was injected from the title');
});

// 5. a narrow screen
await check('a narrow screen (360 px)', async () => {
  const phone = await browser.newContext({ viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true });
  const p = await phone.newPage();
  watch(p);
  await p.goto(BASE + '/');
  ok(await noHorizontalScroll(p), 'the page does not scroll sideways');
  const box = await p.locator('#url').boundingBox();
  ok(box && box.x >= 0 && box.x + box.width <= 360 && box.width >= 250, 'the URL field fits the screen and is wide',
    JSON.stringify(box));
  const long = `${T}/${'very-long-segment/'.repeat(20)}end?${'k=v&'.repeat(20)}z=1`;
  const resp = await submit(p, long);
  ok(resp.status() === 200, 'a long URL is shortened', resp.status());
  ok(await noHorizontalScroll(p), 'the result page with a long URL does not scroll sideways');
  const a = await p.locator('a#short').boundingBox();
  ok(a && a.height >= 16 && a.x + a.width <= 360, 'the short link is on screen and big enough to tap', JSON.stringify(a));
  await p.screenshot({ path: path.join(shots, '4-narrow-result.png'), fullPage: true });
  await phone.close();
});

// 6. JavaScript off: the form still works
await check('the form works without JavaScript', async () => {
  const nojs = await browser.newContext({ javaScriptEnabled: false });
  const p = await nojs.newPage();
  watch(p);
  const resp = await submit(p, `${T}/no-js`);
  ok(resp.status() === 200 && (await p.locator('a#short').count()) === 1, 'a link is created with JavaScript off');
  const bad = await submit(p, 'http://u:p@127.0.0.1/');
  ok(bad.status() === 400 && (await p.locator('.err').count()) === 1, 'an error is shown with JavaScript off');
  await nojs.close();
});

ok(dialogs.length === 0, 'no dialog opened (no script ran)', dialogs.join('; '));
ok(pageErrors.length === 0, 'no JavaScript error on any page', pageErrors.join('; '));

await browser.close().catch(() => {});
await api.dispose().catch(() => {});
target.close();
if (process.env.SHORTY_SCREENSHOTS)
  console.log(`screenshots: ${shots}`);
else
  fs.rmSync(shots, { recursive: true, force: true }); // our own temp dir
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
