// shorty's /admin, the entry: asks for an API key (kept in sessionStorage
// only, for this browser tab's session), checks it against this server,
// then loads admin.jsx (Shlink's web component; most of the bundle, a
// chunk of its own so that this form shows without waiting for it).
// Everything is served by shorty itself (same origin); nothing is fetched
// from anywhere else.
import { lazy, StrictMode, Suspense, useEffect, useState } from 'react';
import { createRoot } from 'react-dom/client';

const Admin = lazy(() => import('./admin.jsx'));
const KEY_ITEM = 'shorty.apiKey';

// The theme follows the system's (prefers-color-scheme); the Shlink kit's
// dark: classes key on <html data-theme>.
const dark = window.matchMedia('(prefers-color-scheme: dark)');
const setTheme = () => document.documentElement.setAttribute('data-theme', dark.matches ? 'dark' : 'light');
setTheme();
dark.addEventListener('change', setTheme);

// What /rest/health says this server speaks (the component turns features
// on by it).
async function serverVersion() {
  const r = await fetch('/rest/health', { headers: { Accept: 'application/json' } });
  const j = await r.json();
  if (typeof j.version !== 'string' || !/^\d+\.\d+\.\d+$/.test(j.version))
    throw new Error('shorty did not report its API version at /rest/health');
  return j.version;
}

// null when the key works, else a sentence for the user.
async function checkKey(key) {
  let r;
  try {
    r = await fetch('/rest/v3/short-urls?itemsPerPage=1', { headers: { 'X-Api-Key': key } });
  } catch {
    return 'shorty cannot be reached; try again.';
  }
  if (r.status === 401) return 'That API key is not valid on this server.';
  if (r.status === 403) return 'That API key may not list links; use an admin key.';
  if (!r.ok) return `shorty answered ${r.status}; try again later.`;
  return null;
}

function Login({ onKey, why }) {
  const [key, setKey] = useState('');
  const [error, setError] = useState(why);
  const [busy, setBusy] = useState(false);
  const submit = async (e) => {
    e.preventDefault();
    const k = key.trim();
    if (!k) {
      setError('Enter an API key.');
      return;
    }
    setBusy(true);
    const why = await checkKey(k);
    setBusy(false);
    if (why) {
      setError(why);
      return;
    }
    sessionStorage.setItem(KEY_ITEM, k);
    onKey(k);
  };
  return (
    <main className="flex min-h-full items-center justify-center p-4">
      <form
        onSubmit={submit}
        noValidate
        aria-labelledby="login-title"
        className="w-full max-w-md rounded-md border border-lm-border dark:border-dm-border bg-lm-primary dark:bg-dm-primary p-6 flex flex-col gap-3"
      >
        <h1 id="login-title" className="text-2xl">shorty admin</h1>
        <label htmlFor="api-key" className="font-bold">API key</label>
        <input
          id="api-key"
          name="api-key"
          type="password"
          autoComplete="off"
          autoFocus
          value={key}
          onChange={(e) => setKey(e.target.value)}
          aria-invalid={error ? 'true' : 'false'}
          aria-describedby={error ? 'login-error' : 'login-help'}
          className="rounded-md border border-lm-input-border dark:border-dm-input-border bg-lm-input dark:bg-dm-input px-3 py-1.5"
        />
        <p id="login-help" className="text-sm">
          Create one with <code>shorty key create --role admin</code>. It is kept for this browser tab
          only.
        </p>
        {error && (
          <p id="login-error" role="alert" className="text-danger font-bold">
            {error}
          </p>
        )}
        <button
          type="submit"
          disabled={busy}
          className="rounded-md bg-lm-brand dark:bg-dm-brand text-white px-4 py-2 cursor-pointer disabled:opacity-60"
        >
          {busy ? 'Checking…' : 'Log in'}
        </button>
      </form>
    </main>
  );
}

function App() {
  const [apiKey, setApiKey] = useState(() => sessionStorage.getItem(KEY_ITEM));
  const [version, setVersion] = useState(null);
  const [error, setError] = useState(null);
  const [dropped, setDropped] = useState(null);
  useEffect(() => {
    serverVersion().then(setVersion, (e) => setError(String(e.message || e)));
    // a key kept from earlier in this session may have been revoked since
    const kept = sessionStorage.getItem(KEY_ITEM);
    if (kept)
      checkKey(kept).then((why) => {
        if (why && /not valid/.test(why)) {
          sessionStorage.removeItem(KEY_ITEM);
          setApiKey(null);
          setDropped('The key of this session is no longer valid; enter another.');
        }
      });
  }, []);
  if (error)
    return (
      <p role="alert" className="p-4">
        {error}
      </p>
    );
  if (!apiKey) return <Login onKey={setApiKey} why={dropped} />;
  const loading = <p className="p-4">Loading…</p>;
  if (!version) return loading;
  return (
    <Suspense fallback={loading}>
      <Admin
        apiKey={apiKey}
        version={version}
        onLogout={() => {
          sessionStorage.removeItem(KEY_ITEM);
          setApiKey(null);
        }}
      />
    </Suspense>
  );
}

createRoot(document.getElementById('root')).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
