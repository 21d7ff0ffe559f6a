// tests/browser/page-test.mjs — drives shorty's web page at / in a real
// browser: Debian's Chromium (/usr/bin/chromium) through playwright-core
// (no browser download). Env: SHORTY_URL (the running `shorty serve`),
// SHORTY_KEY (an admin key: used only to look links up through the REST API,
// and to give one a title for the preview page), CHROMIUM (default
// /usr/bin/chromium), SHORTY_SCREENSHOTS (a folder; default a temp dir).
// Every long URL points at a tiny HTTP server of this script on 127.0.0.1,
// so nothing leaves the machine. Prints one line per check and ends with
// "N passed, N failed"; exits 1 on any failure.
import { request as pwRequest } from 'playwright-core';
import http from 'node:http';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BASE, KEY, finish, launch, ok, refuse } from './harness.mjs';

if (!BASE) refuse('page-test: set SHORTY_URL');

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
const browser = await launch(['--host-resolver-rules=MAP target.test 127.0.0.1']);

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
    () => document.querySelectorAll('script:not(#page-js), iframe, object, embed, img[src="x"], b, [onerror], [onload]').length,
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
    ok(await page.evaluate(() => document.activeElement && document.activeElement.id === 'url'),
      `${name}: the URL field has the focus`);
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

// 4b. the result: copy button, QR code
await check('the result page has a copy button and the QR code', async () => {
  const c = await browser.newContext({ viewport: { width: 1024, height: 700 } });
  await c.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: BASE });
  const p = await c.newPage();
  watch(p);
  const resp = await submit(p, `${T}/copy-me`);
  ok(resp.status() === 200, 'the link is created', resp.status());
  const href = await p.locator('a#short').getAttribute('href');
  const copy = p.getByRole('button', { name: 'Copy' });
  ok(await copy.isVisible(), 'the copy button is shown (JavaScript on)');
  await copy.click();
  await p.getByRole('status').filter({ hasText: 'Copied' }).waitFor();
  ok((await p.evaluate(() => navigator.clipboard.readText())) === href, 'the clipboard holds the short URL');
  const code = href.slice(BASE.length + 1);
  const img = p.getByRole('img', { name: 'QR code of the short link' });
  ok((await img.getAttribute('src')) === `/${code}/qr-code`, 'the QR code image is the link\'s /qr-code',
    await img.getAttribute('src'));
  ok(await img.evaluate((i) => i.complete && i.naturalWidth > 0), 'the QR code image loaded');
  await p.screenshot({ path: path.join(shots, '2b-result-copied.png'), fullPage: true });
  await c.close();
});

// 4c. the options behind "More options", by keyboard
const CODE = `opt${Date.now() % 1000000}`;
await check('the options behind "More options"', async () => {
  await page.goto(BASE + '/');
  const more = page.locator('details');
  ok(!(await more.evaluate((d) => d.open)), 'the options are folded away at first');
  ok(!(await page.locator('#code').isVisible()), 'the custom code field is hidden at first');
  // keyboard: Tab from the URL field reaches the toggle, Enter opens it
  await page.fill('#url', `${T}/with-options`);
  await page.keyboard.press('Tab');
  ok(await page.evaluate(() => document.activeElement.tagName === 'SUMMARY'), 'Tab from the URL reaches "More options"');
  await page.keyboard.press('Enter');
  ok(await page.locator('#code').isVisible(), 'Enter opens the options');
  for (const [id, label] of [['code', 'Custom code'], ['expires', 'Expires after'], ['max_visits', 'Visit limit']])
    ok((await page.getByLabel(label, { exact: true }).getAttribute('id')) === id, `the ${label} field has its label`);
  await page.keyboard.press('Tab');
  await page.keyboard.type(CODE);
  await page.fill('#expires', '2099-12-31');
  await page.fill('#max_visits', '7');
  await page.screenshot({ path: path.join(shots, '2c-options.png'), fullPage: true });
  const [resp] = await Promise.all([page.waitForNavigation(), page.keyboard.press('Enter')]);
  ok(resp.status() === 200, 'the form with options answers 200', resp.status());
  ok((await page.locator('a#short').getAttribute('href')) === `${BASE}/${CODE}`, 'the link has the custom code');
  if (KEY) {
    const r = await api.get(`/rest/v3/short-urls/${CODE}`);
    const j = await r.json();
    ok(j.meta.maxVisits === 7, 'the link has the visit limit', JSON.stringify(j.meta));
    ok(j.meta.validUntil === '2100-01-01T00:00:00+00:00', 'the link works through 2099-12-31 (UTC)', j.meta.validUntil);
  }
});

await check('an error is shown next to its field', async () => {
  await page.goto(BASE + '/');
  await page.fill('#url', `${T}/taken`);
  await page.click('summary');
  await page.fill('#code', CODE); // taken just above
  const [resp] = await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
  ok(resp.status() === 400, 'a taken code answers 400', resp.status());
  const err = page.locator('#code-err');
  ok((await err.count()) === 1 && (await err.isVisible()) && /taken/i.test(await err.textContent()),
    'the error is under the custom code field', (await err.count()) ? await err.textContent() : 'none');
  ok((await page.locator('.err').count()) === 1, 'it is the only error shown');
  ok((await page.getAttribute('#code', 'aria-invalid')) === 'true', 'the code field is marked invalid');
  ok((await page.getAttribute('#url', 'aria-invalid')) === 'false', 'the URL field is not');
  ok((await page.getAttribute('#code', 'aria-describedby')).includes('code-err'), 'the field points at its error');
  ok(await page.locator('details').evaluate((d) => d.open), 'the options stay open to correct');
  ok(await page.evaluate(() => document.activeElement && document.activeElement.id === 'code'),
    'the field in error has the focus');
  ok((await page.inputValue('#code')) === CODE && (await page.inputValue('#url')) === `${T}/taken`,
    'the fields keep what was sent');
  await page.screenshot({ path: path.join(shots, '3b-error-code.png'), fullPage: true });
  await page.fill('#code', '');
  await page.fill('#max_visits', '0');
  await page.$eval('form', (f) => (f.noValidate = true));
  const [r2] = await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
  ok(r2.status() === 400 && /visit limit/i.test(await page.locator('#max_visits-err').textContent()),
    'a visit limit of 0 is refused under its field', r2.status());
});

// 4d. contrast and the dark scheme
function contrastOf(p, sel, prop) {
  return p.$eval(sel, (e, prop) => {
    const rgb = (s) => s.match(/\d+(\.\d+)?/g).slice(0, 3).map(Number);
    const lum = (c) => {
      const [r, g, b] = c.map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
      return 0.2126 * r + 0.7152 * g + 0.0722 * b;
    };
    const fg = lum(rgb(getComputedStyle(e)[prop]));
    const bg = lum(rgb(getComputedStyle(document.body).backgroundColor));
    return (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
  }, prop);
}
for (const scheme of ['light', 'dark']) {
  await check(`contrast in the ${scheme} scheme`, async () => {
    const c = await browser.newContext({ colorScheme: scheme });
    const p = await c.newPage();
    watch(p);
    await p.goto(BASE + '/');
    const bg = await p.evaluate(() => getComputedStyle(document.body).backgroundColor);
    ok(scheme === 'dark' ? bg !== 'rgb(255, 255, 255)' : bg === 'rgb(255, 255, 255)',
      `the page follows prefers-color-scheme: ${scheme}`, bg);
    for (const [sel, what] of [['body', 'text'], ['label', 'labels'], ['.hint', 'hints'], ['summary', 'the options toggle']]) {
      await p.locator('summary').click().catch(() => {});
      const ratio = await contrastOf(p, sel, 'color');
      ok(ratio >= 4.5, `${what} have a contrast of 4.5:1 at least (${ratio.toFixed(1)})`);
    }
    await p.fill('#url', 'http://u:p@127.0.0.1/');
    await Promise.all([p.waitForNavigation(), p.click('button[type=submit]')]);
    const ratio = await contrastOf(p, '.err', 'color');
    ok(ratio >= 4.5, `errors have a contrast of 4.5:1 at least (${ratio.toFixed(1)})`);
    await p.screenshot({ path: path.join(shots, `5-${scheme}.png`), fullPage: true });
    await c.close();
  });
}

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
  ok(!(await p.getByRole('button', { name: 'Copy' }).isVisible()), 'no copy button without JavaScript');
  await p.goto(BASE + '/');
  await p.fill('#url', `${T}/no-js-options`);
  await p.click('summary');
  await p.fill('#code', `nojs${Date.now() % 1000000}`);
  const [r] = await Promise.all([p.waitForNavigation(), p.click('button[type=submit]')]);
  ok(r.status() === 200 && (await p.locator('a#short').getAttribute('href')).includes('/nojs'),
    'the options work with JavaScript off');
  ok(!(await p.getByRole('button', { name: 'Copy' }).isVisible()), 'the result has no copy button without JavaScript');
  ok(await p.getByRole('img', { name: 'QR code of the short link' }).evaluate((i) => i.naturalWidth > 0),
    'the QR code shows without JavaScript');
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
finish();
