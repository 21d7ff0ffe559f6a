// tests/browser/harness.mjs — what the browser tests share: their settings
// from the environment (SHORTY_URL, SHORTY_KEY, CHROMIUM), the one-line
// checks with their tally, steps that build on each other, polling, the
// watch on console errors and CSP violations of the admin's screens, and
// Debian's Chromium launched headless with nothing that calls home.
import fs from 'node:fs';
import { chromium } from 'playwright-core';

export const BASE = (process.env.SHORTY_URL || '').replace(/\/+$/, '');
export const KEY = process.env.SHORTY_KEY || '';
export const EXE = process.env.CHROMIUM || '/usr/bin/chromium';

export const tally = { passed: 0, failed: 0 };

// Counts and prints one check ("ok   name" or "FAIL name: detail").
export function ok(cond, name, detail) {
  if (cond) {
    tally.passed++;
    console.log(`ok   ${name}`);
  } else {
    tally.failed++;
    console.log(`FAIL ${name}${detail === undefined ? '' : ': ' + detail}`);
  }
  return !!cond;
}

// Ends a test that cannot start (a missing setting) the way run-tests reads.
export function refuse(why) {
  console.log(why);
  console.log('0 passed, 1 failed');
  process.exit(1);
}

// The last line, "N passed, N failed", and the exit status.
export function finish() {
  console.log(`${tally.passed} passed, ${tally.failed} failed`);
  process.exit(tally.failed ? 1 : 0);
}

// The end of a browser session: the browser, the API context and the test's
// own target server closed; the screenshots kept when SHORTY_SCREENSHOTS
// named their directory, else removed; then finish().
export async function endSession({ browser, api, target, shots }) {
  await browser.close().catch(() => {});
  await api.dispose().catch(() => {});
  target.close();
  if (process.env.SHORTY_SCREENSHOTS) console.log(`screenshots: ${shots}`);
  else fs.rmSync(shots, { recursive: true, force: true });
  finish();
}

// launch() gives Chromium a fresh temp --user-data-dir of its own (and
// removes it on close); it refuses one passed in args. extra: more flags.
export function launch(extra = []) {
  return chromium.launch({
    executablePath: EXE,
    headless: true,
    timeout: 20000,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      ...extra],
  });
}

// A step of a test whose steps build on each other: after one fails, the
// rest are counted as failed without running.
let stopped = false;
export async function step(name, fn) {
  if (stopped) {
    ok(false, name, 'not run: an earlier step failed');
    return;
  }
  const before = tally.failed;
  try {
    await fn();
  } catch (e) {
    ok(false, name, (e && e.stack) || String(e));
  }
  if (tally.failed > before) stopped = true;
}

// Polls fn until it returns a truthy value (visits reach the store about
// once a second); returns the last value.
export async function eventually(fn, ms = 10000) {
  const end = Date.now() + ms;
  let v;
  while (!(v = await fn()) && Date.now() < end) await new Promise((r) => setTimeout(r, 250));
  return v;
}

// Collects into errors every console error of page while it shows one of
// the admin's screens (what the Content-Security-Policy refuses is one) and
// every securitypolicyviolation event, as "<page URL>: <what>". Let
// through: Shlink's own answer without a Mercure hub (501 from
// /rest/v3/mercure-info; the component then leaves real-time updates off),
// and whatever expected(text, url) says is expected.
export async function watchAdmin(page, errors, expected = () => false) {
  page.on('console', (m) => {
    if (m.type() !== 'error' || !new URL(page.url()).pathname.startsWith('/admin')) return;
    const at = m.location().url || '';
    if (/status of 501/.test(m.text()) && at.endsWith('/rest/v3/mercure-info')) return;
    if (expected(m.text(), at)) return;
    errors.push(`${page.url()}: ${m.text()} (${at}:${m.location().lineNumber})`);
  });
  await page.exposeFunction('__cspViolation', (v) => errors.push(`${page.url()}: CSP ${v}`));
  await page.addInitScript(() => document.addEventListener('securitypolicyviolation', (e) =>
    window.__cspViolation(`${e.effectiveDirective} ${e.blockedURI}`)));
}
