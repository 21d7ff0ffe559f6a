// bench/admin-render.mjs — time to first render of /admin in Debian's
// Chromium (playwright-core from tests/browser/node_modules), against a
// running shorty. Env: SHORTY_URL, SHORTY_KEY (an admin key), RUNS (10).
// Each run is a fresh browser context (empty cache, as a first visit):
//   form   navigation start -> the key form is in the DOM (our first render)
//   fcp    first-contentful-paint of that load
//   admin  with the key in sessionStorage: navigation start -> the
//          component's sidebar is in the DOM (the overview's first render)
// Prints the median and the range of each, in ms.
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const { chromium } = await import(path.join(HERE, '../tests/browser/node_modules/playwright-core/index.mjs'));
const BASE = (process.env.SHORTY_URL || '').replace(/\/+$/, '');
const KEY = process.env.SHORTY_KEY || '';
const RUNS = Number(process.env.RUNS || 10);
if (!BASE || !KEY) {
  console.error('usage: SHORTY_URL=http://127.0.0.1:8000 SHORTY_KEY=... node bench/admin-render.mjs');
  process.exit(2);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
});
// records performance.now() when the selector first appears in the DOM
const watchFor = (sel) => `(() => { const t = () => { if (document.querySelector(${JSON.stringify(sel)})) {
  window.__seen = performance.now(); obs.disconnect(); } };
  const obs = new MutationObserver(t); obs.observe(document, { childList: true, subtree: true }); })();`;

async function run(sel, key) {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  if (key) await page.addInitScript((k) => sessionStorage.setItem('shorty.apiKey', k), key);
  await page.addInitScript(watchFor(sel));
  await page.goto(BASE + '/admin');
  await page.waitForSelector(sel);
  await page.waitForFunction(() => window.__seen !== undefined);
  const r = await page.evaluate(() => ({
    seen: window.__seen,
    fcp: (performance.getEntriesByName('first-contentful-paint')[0] || {}).startTime,
  }));
  await ctx.close();
  return r;
}
const stat = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return `median ${Math.round(s[Math.floor(s.length / 2)])} ms (${Math.round(s[0])}–${Math.round(s[s.length - 1])})`;
};
const form = [], fcp = [], admin = [];
await run('#api-key'); // one warm-up: Chromium's own first start
for (let i = 0; i < RUNS; i++) {
  const a = await run('#api-key');
  form.push(a.seen);
  if (a.fcp !== undefined) fcp.push(a.fcp);
  admin.push((await run('aside nav a[href="/admin/overview"]', KEY)).seen);
}
await browser.close();
console.log(`${RUNS} runs, empty cache each, ${BASE}/admin`);
console.log(`key form rendered:        ${stat(form)}`);
console.log(`first contentful paint:   ${stat(fcp)}`);
console.log(`overview rendered (key):  ${stat(admin)}`);
