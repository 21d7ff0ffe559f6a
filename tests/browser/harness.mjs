// tests/browser/harness.mjs — what the browser tests share: their settings
// from the environment (SHORTY_URL, SHORTY_KEY, CHROMIUM), the one-line
// checks with their tally, and Debian's Chromium launched headless with
// nothing that calls home.
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
