// Drives shorty's Shlink v3 REST API with the official Shlink JS SDK
// (@shlinkio/shlink-js-sdk, a client nobody here wrote), as the Shlink web
// client would. Env: SHORTY_URL (e.g. http://127.0.0.1:8000), SHORTY_KEY (an
// admin API key). Prints one line per test, the exact request and answer of
// every failure, and ends with "N passed, N failed"; exit status 1 on any
// failure.
import assert from 'node:assert/strict';
import { ShlinkApiClient } from '@shlinkio/shlink-js-sdk';
import { FetchHttpClient } from '@shlinkio/shlink-js-sdk/fetch';

const BASE = (process.env.SHORTY_URL || '').replace(/\/+$/, '');
const KEY = process.env.SHORTY_KEY || '';
if (!BASE || !KEY) {
  console.error('sdk-test: set SHORTY_URL and SHORTY_KEY');
  console.log('0 passed, 1 failed');
  process.exit(1);
}

// fetch that remembers the last exchange, for the failure reports
let last = null;
async function recordingFetch(url, init = {}) {
  const res = await fetch(url, init);
  const text = await res.clone().text();
  last = {
    request: `${init.method || 'GET'} ${url}${init.body ? `\n  body: ${init.body}` : ''}`,
    response: `${res.status} ${res.headers.get('content-type') || ''}\n  ${text.slice(0, 800)}`,
  };
  return res;
}

const api = new ShlinkApiClient(new FetchHttpClient(recordingFetch), { baseUrl: BASE, apiKey: KEY });
const badApi = new ShlinkApiClient(new FetchHttpClient(recordingFetch),
  { baseUrl: BASE, apiKey: 'shorty_not-a-real-key-000000000000000000000000' });

const ErrorType = {
  INVALID_ARGUMENT: 'https://shlink.io/api/error/invalid-data',
  INVALID_SLUG: 'https://shlink.io/api/error/non-unique-slug',
  INVALID_SHORTCODE: 'https://shlink.io/api/error/short-url-not-found',
  TAG_CONFLICT: 'https://shlink.io/api/error/tag-conflict',
  TAG_NOT_FOUND: 'https://shlink.io/api/error/tag-not-found',
  MERCURE_NOT_CONFIGURED: 'https://shlink.io/api/error/mercure-not-configured',
  INVALID_API_KEY: 'https://shlink.io/api/error/invalid-api-key',
};

const ISO_WITH_OFFSET = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?([+-]\d\d:\d\d|Z)$/;
const run = Date.now().toString(36);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const flush = () => sleep(1600); // visits reach the store about once a second

// Expects `promise` to reject with a Shlink problem of this type and status.
async function rejectsWith(promise, type, status) {
  let err;
  try {
    await promise;
  } catch (e) {
    err = e;
  }
  assert.ok(err, `expected a ${status} ${type} problem, got success`);
  assert.equal(err.type, type, `problem type: ${JSON.stringify(err)}`);
  assert.equal(err.status, status, `problem status: ${JSON.stringify(err)}`);
  assert.equal(typeof err.title, 'string');
  assert.equal(typeof err.detail, 'string');
  return err;
}

function assertShortUrl(s, want = {}) {
  assert.equal(typeof s.shortCode, 'string');
  assert.ok(s.shortCode.length > 0);
  assert.equal(s.shortUrl.endsWith(`/${s.shortCode}`), true, s.shortUrl);
  assert.match(s.dateCreated, ISO_WITH_OFFSET);
  assert.deepEqual(Object.keys(s.visitsSummary).sort(), ['bots', 'nonBots', 'total']);
  assert.ok(Array.isArray(s.tags));
  assert.deepEqual(Object.keys(s.meta).sort(), ['maxVisits', 'validSince', 'validUntil']);
  assert.equal(s.domain, null);
  assert.equal(typeof s.crawlable, 'boolean');
  assert.equal(typeof s.forwardQuery, 'boolean');
  for (const [k, v] of Object.entries(want)) assert.deepEqual(s[k], v, `field ${k}`);
}

const tests = [];
const test = (name, fn) => tests.push({ name, fn });
const state = {};

// ---- health, domains, mercure ------------------------------------------------

test('health', async () => {
  const h = await api.health();
  assert.equal(h.status, 'pass');
  assert.match(h.version, /^\d+\.\d+\.\d+/);
});

test('listDomains: one default domain', async () => {
  const d = await api.listDomains();
  assert.ok(Array.isArray(d.data) && d.data.length >= 1);
  assert.equal(d.data.filter((x) => x.isDefault).length, 1);
});

test('mercureInfo: not configured', async () => {
  await rejectsWith(api.mercureInfo(), ErrorType.MERCURE_NOT_CONFIGURED, 501);
});

test('a wrong API key is refused', async () => {
  await rejectsWith(badApi.listShortUrls(), ErrorType.INVALID_API_KEY, 401);
});

// ---- create / get ----------------------------------------------------------------

test('createShortUrl: plain', async () => {
  const s = await api.createShortUrl({
    longUrl: `https://sdk.example/${run}/a?x=1`, tags: [`t-${run}`, 'sdk'], title: 'SDK A',
  });
  assertShortUrl(s, {
    longUrl: `https://sdk.example/${run}/a?x=1`, title: 'SDK A',
    visitsSummary: { total: 0, nonBots: 0, bots: 0 },
    meta: { validSince: null, validUntil: null, maxVisits: null },
    crawlable: false, forwardQuery: true,
  });
  assert.deepEqual([...s.tags].sort(), ['sdk', `t-${run}`].sort());
  state.a = s;
});

test('createShortUrl: custom slug, validUntil, maxVisits', async () => {
  const slug = `sdk-${run}`;
  const s = await api.createShortUrl({
    longUrl: `https://sdk.example/${run}/b`, customSlug: slug,
    validUntil: '2099-01-01T00:00:00+00:00', maxVisits: 50,
  });
  assertShortUrl(s, { shortCode: slug, longUrl: `https://sdk.example/${run}/b` });
  assert.equal(s.meta.maxVisits, 50);
  assert.equal(new Date(s.meta.validUntil).getTime(), Date.UTC(2099, 0, 1));
  state.b = s;
});

test('createShortUrl: taken slug is non-unique-slug', async () => {
  const e = await rejectsWith(api.createShortUrl({
    longUrl: `https://sdk.example/${run}/c`, customSlug: state.b.shortCode,
  }), ErrorType.INVALID_SLUG, 400);
  assert.equal(e.customSlug, state.b.shortCode);
});

test('createShortUrl: invalid URL is invalid-data', async () => {
  const e = await rejectsWith(api.createShortUrl({ longUrl: 'javascript:alert(1)' }),
    ErrorType.INVALID_ARGUMENT, 400);
  assert.ok(Array.isArray(e.invalidElements) && e.invalidElements.includes('longUrl'),
    JSON.stringify(e));
});

test('createShortUrl: findIfExists returns the same link', async () => {
  const s = await api.createShortUrl({ longUrl: state.a.longUrl, findIfExists: true });
  assert.equal(s.shortCode, state.a.shortCode);
});

test('getShortUrl', async () => {
  const s = await api.getShortUrl({ shortCode: state.a.shortCode });
  assertShortUrl(s, { shortCode: state.a.shortCode, longUrl: state.a.longUrl, title: 'SDK A' });
});

test('getShortUrl: unknown code is short-url-not-found', async () => {
  const e = await rejectsWith(api.getShortUrl({ shortCode: `nope-${run}` }),
    ErrorType.INVALID_SHORTCODE, 404);
  assert.equal(e.shortCode, `nope-${run}`);
});

// ---- list ---------------------------------------------------------------------------

test('listShortUrls: pagination, search, tags, order', async () => {
  for (let i = 0; i < 3; i++) {
    await api.createShortUrl({ longUrl: `https://sdk.example/${run}/list/${i}`, tags: [`l-${run}`] });
  }
  const all = await api.listShortUrls();
  assert.ok(Array.isArray(all.data));
  assert.equal(all.pagination.currentPage, 1);
  assert.ok(all.pagination.totalItems >= 5);
  const page = await api.listShortUrls({ itemsPerPage: 2, page: 1 });
  assert.equal(page.data.length, 2);
  assert.equal(page.pagination.pagesCount, Math.ceil(page.pagination.totalItems / 2));
  const byTag = await api.listShortUrls({ tags: [`l-${run}`] });
  assert.equal(byTag.data.length, 3);
  assert.ok(byTag.data.every((s) => s.tags.includes(`l-${run}`)));
  const search = await api.listShortUrls({ searchTerm: `${run}/list/1` });
  assert.deepEqual(search.data.map((s) => s.longUrl), [`https://sdk.example/${run}/list/1`]);
  const asc = await api.listShortUrls({ tags: [`l-${run}`], orderBy: { field: 'longUrl', dir: 'ASC' } });
  assert.deepEqual(asc.data.map((s) => s.longUrl),
    [0, 1, 2].map((i) => `https://sdk.example/${run}/list/${i}`));
  const desc = await api.listShortUrls({ tags: [`l-${run}`], orderBy: { field: 'longUrl', dir: 'DESC' } });
  assert.deepEqual(desc.data.map((s) => s.longUrl),
    [2, 1, 0].map((i) => `https://sdk.example/${run}/list/${i}`));
});

test('listShortUrls: excludeTags, searchTerm over tags, domain (Shlink 4.3/4.6 filters)', async () => {
  const mk = (i, tags) => api.createShortUrl({ longUrl: `https://sdk.example/${run}/x/${i}`, tags });
  const a = await mk(0, [`xa-${run}`]);
  const ab = await mk(1, [`xa-${run}`, `xb-${run}`]);
  const b = await mk(2, [`xb-${run}`]);
  const codes = async (params) => (await api.listShortUrls({ searchTerm: `${run}/x/`, ...params }))
    .data.map((s) => s.shortCode).sort();
  assert.deepEqual(await codes({ excludeTags: [`xa-${run}`] }), [b.shortCode]);
  assert.deepEqual(await codes({ excludeTags: [`xa-${run}`, `xb-${run}`], excludeTagsMode: 'all' }),
    [a.shortCode, b.shortCode].sort());
  const byTagName = await api.listShortUrls({ searchTerm: `xb-${run}` });
  assert.deepEqual(byTagName.data.map((s) => s.shortCode).sort(), [ab.shortCode, b.shortCode].sort());
  assert.equal((await codes({ domain: 'DEFAULT' })).length, 3);
  assert.deepEqual(await codes({ domain: 'other.example' }), []);
});

// ---- edit -----------------------------------------------------------------------------

test('updateShortUrl', async () => {
  const s = await api.updateShortUrl({ shortCode: state.b.shortCode }, {
    longUrl: `https://sdk.example/${run}/b2`, title: 'Edited', tags: [`e-${run}`],
    maxVisits: null, validUntil: null, crawlable: true, forwardQuery: false,
  });
  assertShortUrl(s, {
    shortCode: state.b.shortCode, longUrl: `https://sdk.example/${run}/b2`, title: 'Edited',
    tags: [`e-${run}`], crawlable: true, forwardQuery: false,
    meta: { validSince: null, validUntil: null, maxVisits: null },
  });
  const again = await api.getShortUrl({ shortCode: state.b.shortCode });
  assert.equal(again.longUrl, `https://sdk.example/${run}/b2`);
  assert.equal(again.title, 'Edited');
  const r = await fetch(`${BASE}/${state.b.shortCode}`, { redirect: 'manual' });
  assert.equal(r.headers.get('location'), `https://sdk.example/${run}/b2`);
});

test('updateShortUrl: unknown code is short-url-not-found', async () => {
  await rejectsWith(api.updateShortUrl({ shortCode: `nope-${run}` }, { title: 'x' }),
    ErrorType.INVALID_SHORTCODE, 404);
});

// ---- visits ---------------------------------------------------------------------------

test('visits after real redirects', async () => {
  for (let i = 0; i < 3; i++) {
    const r = await fetch(`${BASE}/${state.a.shortCode}`, {
      redirect: 'manual', headers: { 'User-Agent': `sdk-test/${i}`, Referer: 'https://ref.example/' },
    });
    assert.equal(r.status, 302);
    assert.equal(r.headers.get('location'), state.a.longUrl);
  }
  await flush();
  const v = await api.getShortUrlVisits({ shortCode: state.a.shortCode });
  assert.equal(v.data.length, 3);
  assert.equal(v.pagination.totalItems, 3);
  for (const visit of v.data) {
    assert.match(visit.date, ISO_WITH_OFFSET);
    assert.equal(typeof visit.potentialBot, 'boolean');
    assert.equal(visit.referer, 'https://ref.example/');
    assert.match(visit.userAgent, /^sdk-test\/\d$/);
  }
  const s = await api.getShortUrl({ shortCode: state.a.shortCode });
  assert.equal(s.visitsSummary.total, 3);
  const overview = await api.getVisitsOverview();
  assert.ok(overview.nonOrphanVisits.total >= 3);
  assert.equal(typeof overview.orphanVisits.total, 'number');
  const byTag = await api.getTagVisits(`t-${run}`);
  assert.equal(byTag.data.length, 3);
  const nonOrphan = await api.getNonOrphanVisits();
  assert.ok(nonOrphan.data.length >= 3);
  const paged = await api.getShortUrlVisits({ shortCode: state.a.shortCode }, { itemsPerPage: 2, page: 2 });
  assert.equal(paged.data.length, 1);
});

test('orphan visits', async () => {
  const r = await fetch(`${BASE}/no-such-code-${run}`, { redirect: 'manual' });
  assert.equal(r.status, 404);
  await flush();
  const v = await api.getOrphanVisits();
  assert.ok(v.data.some((x) => x.type === 'invalid_short_url'), JSON.stringify(v.data.slice(0, 3)));
});

test('getDomainVisits (DEFAULT, the base authority, an unknown domain)', async () => {
  const all = await api.getNonOrphanVisits();
  const byDefault = await api.getDomainVisits('DEFAULT');
  assert.equal(byDefault.pagination.totalItems, all.pagination.totalItems);
  assert.ok(byDefault.data.some((v) => v.visitedUrl.endsWith(`/${state.a.shortCode}`)));
  const domains = await api.listDomains();
  const byName = await api.getDomainVisits(domains.data[0].domain);
  assert.equal(byName.pagination.totalItems, all.pagination.totalItems);
  await rejectsWith(api.getDomainVisits(`nowhere-${run}.example`),
    'https://shlink.io/api/error/domain-not-found', 404);
});

test('redirect rules: get, set, follow, bad input', async () => {
  const link = await api.createShortUrl({ longUrl: `https://example.com/rules-${run}`, customSlug: `rules-${run}` });
  const id = { shortCode: link.shortCode };
  assert.deepEqual(await api.getShortUrlRedirectRules(id),
    { defaultLongUrl: link.longUrl, redirectRules: [] });
  const rules = [
    { longUrl: 'https://example.com/android', conditions: [{ type: 'device', matchKey: null, matchValue: 'android' }] },
    { longUrl: 'https://example.com/fr', conditions: [{ type: 'language', matchKey: null, matchValue: 'fr' }] },
  ];
  const set = await api.setShortUrlRedirectRules(id, { redirectRules: rules });
  assert.deepEqual(set, {
    defaultLongUrl: link.longUrl,
    redirectRules: rules.map((r, i) => ({ ...r, priority: i + 1 })),
  });
  assert.deepEqual(await api.getShortUrlRedirectRules(id), set);
  assert.equal((await api.getShortUrl(id)).hasRedirectRules, true);
  const go = async (headers) => (await fetch(`${BASE}/${link.shortCode}`, { redirect: 'manual', headers })).headers.get('location');
  assert.equal(await go({ 'User-Agent': 'Mozilla/5.0 (Linux; Android 13) AppleWebKit/537.36 Chrome/116.0 Mobile Safari/537.36' }),
    'https://example.com/android');
  assert.equal(await go({ 'Accept-Language': 'fr-FR,fr;q=0.8', 'User-Agent': 'sdk-test' }), 'https://example.com/fr');
  assert.equal(await go({ 'User-Agent': 'sdk-test' }), link.longUrl);
  await rejectsWith(api.setShortUrlRedirectRules(id, { redirectRules: [{ longUrl: 'https://example.com/x',
    conditions: [{ type: 'device', matchKey: null, matchValue: 'toaster' }] }] }), ErrorType.INVALID_ARGUMENT, 400);
  await rejectsWith(api.getShortUrlRedirectRules({ shortCode: `no-rules-${run}` }), ErrorType.INVALID_SHORTCODE, 404);
  assert.deepEqual(await api.getShortUrlRedirectRules(id), set);
});

test('deleteShortUrlVisits', async () => {
  const d = await api.deleteShortUrlVisits({ shortCode: state.a.shortCode });
  assert.equal(d.deletedVisits, 3);
  const v = await api.getShortUrlVisits({ shortCode: state.a.shortCode });
  assert.equal(v.data.length, 0);
});

// ---- tags ------------------------------------------------------------------------------

test('listTags and tagsStats', async () => {
  const t = await api.listTags();
  for (const tag of ['sdk', `t-${run}`, `l-${run}`, `e-${run}`]) assert.ok(t.data.includes(tag), tag);
  const stats = await api.tagsStats();
  const l = stats.data.find((x) => x.tag === `l-${run}`);
  assert.ok(l, JSON.stringify(stats.data));
  assert.equal(l.shortUrlsCount, 3);
  assert.deepEqual(Object.keys(l.visitsSummary).sort(), ['bots', 'nonBots', 'total']);
});

test('editTag renames', async () => {
  const res = await api.editTag({ oldName: `l-${run}`, newName: `m-${run}` });
  assert.deepEqual(res, { oldName: `l-${run}`, newName: `m-${run}` });
  const t = await api.listTags();
  assert.ok(t.data.includes(`m-${run}`) && !t.data.includes(`l-${run}`));
  const byTag = await api.listShortUrls({ tags: [`m-${run}`] });
  assert.equal(byTag.data.length, 3);
});

test('editTag: unknown tag and conflict', async () => {
  await rejectsWith(api.editTag({ oldName: `zz-${run}`, newName: `zy-${run}` }),
    ErrorType.TAG_NOT_FOUND, 404);
  await rejectsWith(api.editTag({ oldName: `m-${run}`, newName: 'sdk' }),
    ErrorType.TAG_CONFLICT, 409);
});

test('deleteTags', async () => {
  await api.deleteTags([`m-${run}`]);
  const t = await api.listTags();
  assert.ok(!t.data.includes(`m-${run}`));
  const s = await api.listShortUrls({ searchTerm: `${run}/list/` });
  assert.equal(s.data.length, 3);
  assert.ok(s.data.every((x) => !x.tags.includes(`m-${run}`)));
});

// ---- delete ----------------------------------------------------------------------------

test('deleteShortUrl', async () => {
  await api.deleteShortUrl({ shortCode: state.b.shortCode });
  await rejectsWith(api.getShortUrl({ shortCode: state.b.shortCode }), ErrorType.INVALID_SHORTCODE, 404);
  const r = await fetch(`${BASE}/${state.b.shortCode}`, { redirect: 'manual' });
  assert.equal(r.status, 404);
  await rejectsWith(api.deleteShortUrl({ shortCode: state.b.shortCode }), ErrorType.INVALID_SHORTCODE, 404);
});

// ---- run ---------------------------------------------------------------------------------

let passed = 0;
let failed = 0;
for (const { name, fn } of tests) {
  last = null;
  try {
    await fn();
    passed++;
    console.log(`ok   ${name}`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${name}: ${e && e.message ? e.message : JSON.stringify(e)}`);
    if (last) console.log(`  last request: ${last.request}\n  answer: ${last.response}`);
  }
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
