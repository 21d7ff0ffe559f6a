// The admin proper, loaded (a chunk of its own) once a key is accepted:
// Shlink's web component with the Shlink JS SDK's client pointed at this
// server's /rest/v3, under a router at /admin. The key form (main.jsx)
// renders without waiting for this, the bulk of the bundle.
import './fontawesome.js';
import { Component, useMemo } from 'react';
import { BrowserRouter, Navigate, Route, Routes } from 'react-router';
import { ShlinkApiClient } from '@shlinkio/shlink-js-sdk';
import { FetchHttpClient } from '@shlinkio/shlink-js-sdk/fetch';
import {
  ShlinkSidebarToggleButton,
  ShlinkSidebarVisibilityProvider,
  ShlinkWebComponent,
} from '@shlinkio/shlink-web-component';

const COLORS_ITEM = 'shorty.tagColors';
const ORIGIN = window.location.origin;

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

export default function Admin({ apiKey, version, onLogout }) {
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

