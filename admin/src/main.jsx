// shorty's /admin: asks for an API key (kept in sessionStorage only, for
// this browser tab's session), checks it against this server, then mounts
// Shlink's own web component with the Shlink JS SDK's client pointed at
// this server's /rest/v3. Everything is served by shorty itself (same
// origin); nothing is fetched from anywhere else.
import './fontawesome.js';
import { Component, StrictMode, useEffect, useMemo, useState } from 'react';
import { createRoot } from 'react-dom/client';
import { BrowserRouter, Navigate, Route, Routes } from 'react-router';
import { ShlinkApiClient } from '@shlinkio/shlink-js-sdk';
import { FetchHttpClient } from '@shlinkio/shlink-js-sdk/fetch';
import {
  ShlinkSidebarToggleButton,
  ShlinkSidebarVisibilityProvider,
  ShlinkWebComponent,
} from '@shlinkio/shlink-web-component';
import { changeThemeInMarkup, getSystemPreferredTheme } from '@shlinkio/shlink-frontend-kit';

const KEY_ITEM = 'shorty.apiKey';
const COLORS_ITEM = 'shorty.tagColors';
const ORIGIN = window.location.origin;

// The theme follows the system's (prefers-color-scheme); the kit's dark:
// classes key on data-theme.
changeThemeInMarkup(getSystemPreferredTheme());
window.matchMedia('(prefers-color-scheme: dark)').addEventListener('change', (e) =>
  changeThemeInMarkup(e.matches ? 'dark' : 'light'),
);

// Props of the component must keep their identity across renders (a new
// object rebuilds its whole store): module-level constants, and the API
// client made once per key (useMemo below).
const tagColorsStorage = {
  getTagColors() {
    try {
      return JSON.parse(localStorage.getItem(COLORS_ITEM) || '{}');
    } catch {
      return {};
    }
  },
  storeTagColors(colors) {
    localStorage.setItem(COLORS_ITEM, JSON.stringify(colors));
  },
};
const settings = { realTimeUpdates: { enabled: false } };
const notFound = (home) => (
  <div role="alert" className="p-4">
    <h2 className="text-xl">Not found</h2>
    <p>
      There is no such screen. <a href={`/admin${home}`}>Go to the short URLs</a>.
    </p>
  </div>
);

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

function Login({ onKey }) {
  const [key, setKey] = useState('');
  const [error, setError] = useState(null);
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

// The component has no error boundary of its own: without this, one
// failing render blanks the whole page.
class Boundary extends Component {
  constructor(props) {
    super(props);
    this.state = { error: null };
  }
  static getDerivedStateFromError(error) {
    return { error };
  }
  render() {
    if (!this.state.error) return this.props.children;
    return (
      <div role="alert" className="p-4">
        <h2 className="text-xl">Something went wrong on this screen.</h2>
        <p>{String(this.state.error.message || this.state.error)}</p>
        <p>
          <a href="/admin">Back to the start</a>
        </p>
      </div>
    );
  }
}

function Admin({ apiKey, version, onLogout }) {
  const apiClient = useMemo(
    () => new ShlinkApiClient(new FetchHttpClient(), { baseUrl: ORIGIN, apiKey }),
    [apiKey],
  );
  return (
    <BrowserRouter>
      <ShlinkSidebarVisibilityProvider>
        <header className="fixed top-0 inset-x-0 z-900 h-(--header-height) flex items-center gap-3 px-4 bg-lm-main dark:bg-dm-main text-white">
          <ShlinkSidebarToggleButton className="md:hidden text-white" />
          <a href="/admin" className="text-white! font-bold">shorty admin</a>
          <span className="grow" />
          <button type="button" onClick={onLogout} className="cursor-pointer underline">
            Log out
          </button>
        </header>
        <div className="h-full pt-(--header-height)">
          <Boundary>
            {/* the component's own routes are relative: it lives under
                /admin/*, and /admin itself opens its overview */}
            <Routes>
              <Route path="/admin" element={<Navigate replace to="/admin/overview" />} />
              <Route
                path="/admin/*"
                element={
                  <ShlinkWebComponent
                    serverVersion={version}
                    apiClient={apiClient}
                    routesPrefix="/admin"
                    tagColorsStorage={tagColorsStorage}
                    settings={settings}
                    autoSidebarToggle={false}
                    createNotFound={notFound}
                  />
                }
              />
            </Routes>
          </Boundary>
        </div>
      </ShlinkSidebarVisibilityProvider>
    </BrowserRouter>
  );
}

function App() {
  const [apiKey, setApiKey] = useState(() => sessionStorage.getItem(KEY_ITEM));
  const [version, setVersion] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => {
    serverVersion().then(setVersion, (e) => setError(String(e.message || e)));
  }, []);
  if (error)
    return (
      <p role="alert" className="p-4">
        {error}
      </p>
    );
  if (!apiKey) return <Login onKey={setApiKey} />;
  if (!version) return <p className="p-4">Loading…</p>;
  return (
    <Admin
      apiKey={apiKey}
      version={version}
      onLogout={() => {
        sessionStorage.removeItem(KEY_ITEM);
        setApiKey(null);
      }}
    />
  );
}

createRoot(document.getElementById('root')).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
