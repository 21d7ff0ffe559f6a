// The WHATWG URL oracle of tests/integration/test_url_whatwg.py: Node's own
// `new URL()` (a WHATWG URL Standard parser nobody on shorty wrote). Reads
// one JSON string per line on stdin, writes one JSON object per line:
// {"ok": false} when the parser rejects it, else the parts and the href.
'use strict';
const readline = require('readline');
const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
const out = [];
rl.on('line', (line) => {
  let r;
  try {
    const u = new URL(JSON.parse(line));
    r = {
      ok: true, href: u.href, protocol: u.protocol, username: u.username,
      password: u.password, hostname: u.hostname, port: u.port,
      pathname: u.pathname, search: u.search, hash: u.hash,
    };
  } catch (e) {
    r = { ok: false };
  }
  out.push(JSON.stringify(r));
});
rl.on('close', () => { process.stdout.write(out.length ? out.join('\n') + '\n' : ''); });
