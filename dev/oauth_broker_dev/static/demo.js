// The demo page of `make dev`: sign in with a dev token, register an OAuth client, connect an
// account with connect.js (and confirm the result as the signed-in user), list / re-authorize /
// delete connections. Talks only to the broker's public API (same origin). Every piece of data
// goes into the page through textContent or attributes, never innerHTML.
import { connect, completeRedirect, ConnectError } from "./connect.esm.js";

const STORAGE_KEY = "oauth-broker-demo.session";
const SENSITIVITY_LABELS = {
  non_sensitive: "non-sensitive",
  sensitive: "sensitive",
  restricted: "restricted",
};

/**
 * @typedef {{token: string, tenant: string, user: string, admin: boolean}} Session
 * @typedef {{scope: string, short_name?: string | null, sensitivity?: string, description?: string,
 *            base?: boolean, aliases?: string[]}} Scope  (GET /v1/providers; `base`: always requested)
 * @typedef {{key: string, display_name?: string, enabled?: boolean, custom?: boolean,
 *            scopes?: (Scope | string)[], default_scopes?: string[]}} Provider
 */

const state = {
  /** @type {Session | null} */ session: null,
  /** @type {Provider[]} */ providers: [],
  /** @type {any[]} */ clients: [],
  /** @type {any} */ settings: null,
  /** @type {any[]} */ connections: [],
};

// ---- tiny DOM helpers ------------------------------------------------------------------------

/** @param {string} id @returns {any} */
const $ = (id) => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} is missing from the page`);
  return el;
};

/**
 * An element with text content and attributes; never parses HTML.
 * @param {string} tag
 * @param {Record<string, string | boolean | undefined>} [attrs]
 * @param {(Node | string | null | undefined)[]} [children]
 * @returns {HTMLElement}
 */
function h(tag, attrs = {}, children = []) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) continue;
    if (name === "text") el.textContent = String(value);
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    el.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return el;
}

/** @param {HTMLSelectElement} select @param {{value: string, label: string, disabled?: boolean}[]} options */
function fillSelect(select, options, keep = true) {
  const previous = keep ? select.value : "";
  select.replaceChildren(
    ...options.map((o) => h("option", { value: o.value, text: o.label, disabled: !!o.disabled })),
  );
  if (previous && options.some((o) => o.value === previous && !o.disabled)) select.value = previous;
}

// ---- errors ----------------------------------------------------------------------------------

class ApiError extends Error {
  /** @param {number} status @param {any} body */
  constructor(status, body) {
    const problem = body && typeof body === "object" ? body : {};
    const text = problem.detail || problem.message || problem.title || `HTTP ${status}`;
    super(String(text));
    this.name = "ApiError";
    this.status = status;
    this.problem = problem;
  }

  describe() {
    const p = this.problem;
    if (p.code) {
      const lines = [`${p.title || "Error"} (${p.code}, HTTP ${this.status}): ${p.detail || ""}`.trim()];
      for (const e of Array.isArray(p.errors) ? p.errors : []) {
        const where = Array.isArray(e.loc) ? e.loc.join(".") : e.field || "";
        lines.push(`• ${where}${where ? ": " : ""}${e.msg || e.message || ""}`);
      }
      return lines.join("\n");
    }
    return `HTTP ${this.status}: ${p.message || this.message}`;
  }
}

/** @param {unknown} err @returns {string} */
function describeError(err) {
  if (err instanceof ConnectError) {
    const cause = /** @type {any} */ (err).cause;
    if (cause instanceof ApiError) return cause.describe();
    return `${err.message} (${err.code})`;
  }
  if (err instanceof ApiError) return err.describe();
  return err instanceof Error ? err.message : String(err);
}

/** @param {unknown} err */
function showError(err) {
  const box = $("error");
  box.textContent = describeError(err);
  box.hidden = false;
}

function clearError() {
  const box = $("error");
  box.textContent = "";
  box.hidden = true;
}

/**
 * Runs an action with its button disabled; shows any error.
 * @param {HTMLButtonElement | null} button
 * @param {() => Promise<void>} action
 */
async function busy(button, action) {
  clearError();
  if (button) button.disabled = true;
  try {
    await action();
  } catch (err) {
    showError(err);
  } finally {
    if (button) button.disabled = false;
  }
}

// ---- API -------------------------------------------------------------------------------------

/**
 * @param {string} method
 * @param {string} path
 * @param {unknown} [body]
 * @returns {Promise<any>}
 */
async function api(method, path, body) {
  /** @type {Record<string, string>} */
  const headers = { Accept: "application/json" };
  if (state.session) headers.Authorization = `Bearer ${state.session.token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const resp = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "omit",
    cache: "no-store",
  });
  if (resp.status === 204) return null;
  const text = await resp.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = { message: text.slice(0, 200) };
  }
  if (!resp.ok) throw new ApiError(resp.status, data);
  return data;
}

/** @param {any} page @returns {any[]} */
const items = (page) => (Array.isArray(page) ? page : Array.isArray(page?.data) ? page.data : []);

/** Every page of a paginated collection (bounded). @param {string} path */
async function listAll(path) {
  const out = [];
  let cursor = null;
  for (let i = 0; i < 20; i += 1) {
    const sep = path.includes("?") ? "&" : "?";
    const page = await api("GET", cursor ? `${path}${sep}limit=100&cursor=${encodeURIComponent(cursor)}` : `${path}${sep}limit=100`);
    out.push(...items(page));
    cursor = page && !Array.isArray(page) ? page.next_cursor : null;
    if (!cursor) break;
  }
  return out;
}

// ---- providers and scopes --------------------------------------------------------------------

/** @param {Scope | string} s @returns {Scope} */
const asScope = (s) => (typeof s === "string" ? { scope: s } : s);

/** @param {string} key @returns {Provider | undefined} */
const providerByKey = (key) => state.providers.find((p) => p.key === key);

/** @param {Provider | undefined} p @returns {Scope[]} */
const allScopes = (p) => (p?.scopes || []).map(asScope);

/** Maps every name of a scope (full string, short name, aliases) to its full string. @param {Provider | undefined} p */
function scopeCanon(p) {
  /** @type {Map<string, string>} */
  const canon = new Map();
  for (const s of allScopes(p)) {
    canon.set(s.scope, s.scope);
    if (s.short_name) canon.set(s.short_name, s.scope);
    for (const alias of s.aliases || []) canon.set(alias, s.scope);
  }
  return (/** @type {string} */ scope) => canon.get(scope) || scope;
}

/**
 * The catalog's short name of a scope; a Google-style scope URL the catalog does not list (such as
 * the `.../auth/userinfo.email` that grants `email`) is shortened to what follows `/auth/`.
 * @param {string} providerKey @param {string} scope
 */
function shortName(providerKey, scope) {
  const info = allScopes(providerByKey(providerKey)).find(
    (s) => s.scope === scope || (s.aliases || []).includes(scope),
  );
  if (info) return info.short_name || info.scope;
  const at = scope.indexOf("/auth/");
  return /^https:\/\//.test(scope) && at > 0 && at + 6 < scope.length ? scope.slice(at + 6) : scope;
}

/** @param {Provider} p */
const connectable = (p) => p.enabled !== false;

/** @param {Provider} p */
const providerLabel = (p) =>
  `${p.display_name || p.key} (${p.key})${p.enabled === false ? ", disabled for this tenant" : ""}`;

async function loadProviders() {
  state.providers = items(await api("GET", "/v1/providers"));
  const options = state.providers.map((p) => ({ value: p.key, label: providerLabel(p), disabled: !connectable(p) }));
  fillSelect($("client-provider"), options);
  fillSelect($("provider"), options);
  const firstEnabled = state.providers.find(connectable);
  for (const id of ["client-provider", "provider"]) {
    if (!$(id).value && firstEnabled) $(id).value = firstEnabled.key;
  }
  renderScopes();
  renderClientChoice();
}

function renderScopes() {
  const provider = providerByKey($("provider").value);
  const defaults = new Set(provider?.default_scopes || []);
  const list = $("scope-list");
  const scopes = allScopes(provider);
  const base = scopes.filter((s) => s.base);
  $("base-scopes").textContent = base.length
    ? `Always requested: ${base.map((s) => s.short_name || s.scope).join(", ")}`
    : "";
  list.replaceChildren(
    ...scopes.filter((s) => !s.base).map((s, i) => {
      const id = `scope-${i}`;
      const sens = s.sensitivity || "non_sensitive";
      const box = h("input", { type: "checkbox", id, name: "scope", value: s.scope, "data-sensitivity": sens });
      /** @type {HTMLInputElement} */ (box).checked = defaults.has(s.scope);
      return h("li", {}, [
        h("label", { for: id }, [
          box,
          h("span", {}, [
            h("span", { class: "scope-name", text: s.short_name || s.scope }),
            " ",
            h("span", { class: `sens sens-${sens}`, text: SENSITIVITY_LABELS[sens] || sens }),
            h("br"),
            h("span", { class: "scope-desc", text: s.description || s.scope }),
          ]),
        ]),
      ]);
    }),
  );
}

/** @param {boolean} checked */
function setAllScopes(checked) {
  for (const box of /** @type {NodeListOf<HTMLInputElement>} */ (
    $("scope-list").querySelectorAll('input[name="scope"]')
  )) {
    box.checked = checked;
  }
}

// ---- OAuth clients ---------------------------------------------------------------------------

async function loadClients() {
  state.clients = await listAll("/v1/oauth-clients");
  renderClients();
  renderClientChoice();
}

function renderClientChoice() {
  const provider = $("provider").value;
  const mine = state.clients.filter((c) => c.provider === provider);
  fillSelect(
    $("oauth-client"),
    mine.length
      ? mine.map((c) => ({ value: c.id, label: `${c.name} (${c.client_id})` }))
      : [{ value: "", label: "no client for this provider: an admin registers one", disabled: true }],
  );
}

function renderClients() {
  const list = $("clients");
  $("no-clients").hidden = state.clients.length > 0;
  list.replaceChildren(
    ...state.clients.map((c) => {
      const inputId = `callback-${c.id}`;
      const status = h("span", { class: "muted", role: "status" });
      const input = h("input", {
        id: inputId,
        readonly: true,
        value: c.callback_url || "",
        "aria-label": `Callback URL of ${c.name}`,
      });
      const copy = h("button", { type: "button", class: "small", "data-action": "copy", text: "Copy" });
      copy.addEventListener("click", async () => {
        /** @type {HTMLInputElement} */ (input).select();
        try {
          await navigator.clipboard.writeText(/** @type {HTMLInputElement} */ (input).value);
          status.textContent = "Copied";
        } catch {
          status.textContent = "Selected: press Ctrl+C";
        }
      });
      return h("li", { "data-client-id": c.id }, [
        h("strong", { text: c.name }),
        " ",
        h("span", { class: "muted", text: `${c.provider} · ${c.client_id} · secret ${c.secret_hint || "…"}` }),
        h("div", { class: "row" }, [h("label", { for: inputId, text: "Callback URL" }), input, copy, status]),
      ]);
    }),
  );
}

async function registerClient() {
  const body = {
    name: $("client-name").value.trim(),
    provider: $("client-provider").value,
    client_id: $("client-id").value.trim(),
    client_secret: $("client-secret").value,
  };
  await api("POST", "/v1/oauth-clients", body);
  $("client-secret").value = "";
  $("provider").value = body.provider;
  renderScopes();
  await loadClients();
}

// ---- settings: allowed return origins --------------------------------------------------------

async function loadSettings() {
  state.settings = await api("GET", "/v1/settings");
  renderOrigins();
}

function renderOrigins() {
  const origins = state.settings?.allowed_return_origins || [];
  const box = $("origins");
  box.replaceChildren(
    ...(origins.length ? origins.map((o) => h("code", { text: o })) : [h("span", { class: "muted", text: "none" })]),
  );
  const allowed = origins.includes(window.location.origin);
  $("allow-origin").hidden = allowed;
  $("origin-status").textContent = allowed
    ? `${window.location.origin} is allowed.`
    : `${window.location.origin} is not allowed yet: results cannot reach this page.`;
}

async function allowOrigin() {
  const origins = state.settings?.allowed_return_origins || [];
  state.settings = await api("PATCH", "/v1/settings", {
    allowed_return_origins: [...new Set([...origins, window.location.origin])],
  });
  renderOrigins();
}

// ---- connections -----------------------------------------------------------------------------

async function loadConnections() {
  state.connections = await listAll("/v1/connections");
  renderConnections();
}

/**
 * The requested scopes the connection was not granted. The API's connection has no such field,
 * and GET /v1/providers does not list Google's aliases (`email` is granted as
 * `.../userinfo.email`), so: nothing for an active connection, and base scopes (always granted
 * with the sign-in) are only compared when the catalog gives their aliases.
 * @param {any} c @returns {string[]}
 */
function missingScopes(c) {
  if (Array.isArray(c.missing_scopes)) return c.missing_scopes;
  if (c.status === "active") return [];
  const provider = providerByKey(c.provider);
  const canon = scopeCanon(provider);
  const scopes = allScopes(provider);
  const knowsAliases = scopes.some((s) => Array.isArray(s.aliases));
  const base = new Set(scopes.filter((s) => s.base).map((s) => s.scope));
  const granted = new Set((c.scopes_granted || []).map(canon));
  return (c.scopes_requested || []).filter((s) => !granted.has(canon(s)) && (knowsAliases || !base.has(canon(s))));
}

/** @param {string} providerKey @param {string[]} scopes */
function scopeList(providerKey, scopes) {
  if (!scopes.length) return h("span", { class: "muted", text: "—" });
  return h(
    "ul",
    {},
    scopes.map((s) => h("li", { title: s, text: shortName(providerKey, s) })),
  );
}

function renderConnections() {
  const body = $("connections").tBodies[0];
  $("no-connections").hidden = state.connections.length > 0;
  body.replaceChildren(
    ...state.connections.map((c) => {
      const status = String(c.status || "unknown");
      const account = c.account?.email || c.account?.sub || "—";
      return h("tr", { "data-connection-id": c.id }, [
        h("td", {}, [h("span", { class: "name", text: c.name || "" }), h("br"), h("code", { class: "muted", text: c.id })]),
        h("td", { class: "provider", text: c.provider }),
        h("td", { class: "account", text: account }),
        h("td", {}, [
          h("span", { class: `status status-${status.replace(/[^a-z_]/g, "")}`, text: status }),
          c.status_reason ? h("div", { class: "muted reason", text: c.status_reason }) : null,
        ]),
        h("td", { class: "granted" }, [scopeList(c.provider, c.scopes_granted || [])]),
        h("td", { class: "missing" }, [scopeList(c.provider, missingScopes(c))]),
        h("td", {}, [
          h("div", { class: "actions" }, [
            h("button", {
              type: "button",
              class: "small",
              "data-action": "reauthorize",
              "data-connection-id": c.id,
              text: "Re-authorize",
              "aria-label": `Re-authorize ${c.name || c.id}`,
            }),
            h("button", {
              type: "button",
              class: "small danger",
              "data-action": "delete",
              "data-connection-id": c.id,
              text: "Delete",
              "aria-label": `Delete ${c.name || c.id}`,
            }),
          ]),
        ]),
      ]);
    }),
  );
}

// ---- the connect flow ------------------------------------------------------------------------

/**
 * connect.js's confirm step, done the way an app's backend would, but directly: the signed-in
 * user's own token calls POST /v1/connect-sessions/confirm. Only the user who created the connect
 * session can confirm what the callback obtained; anyone else gets 404 (and the result is gone).
 * @param {string} confirmation
 * @returns {Promise<any>} the confirmed connection
 */
function confirmAsSignedInUser(confirmation) {
  if (!state.session) return Promise.reject(new Error("sign in to confirm the connection"));
  return api("POST", "/v1/connect-sessions/confirm", { confirmation });
}

/** @param {import("./connect.esm.js").ConfirmedResult | any} result */
function showResult(result) {
  const box = $("result");
  box.className = "result";
  if (result.error) {
    box.classList.add("bad");
    box.textContent = `Authorization failed: ${result.error}`;
    return;
  }
  const conn = result.connection || state.connections.find((c) => c.id === result.connection_id);
  const who = conn?.account?.email ? `${conn.account.email} (${result.connection_id})` : result.connection_id;
  const missing = result.missing_scopes || [];
  if (result.status === "partial") {
    box.classList.add("warn");
    const names = missing.map((s) => (conn ? shortName(conn.provider, s) : s));
    box.textContent = `Connected and confirmed ${who}: partial${names.length ? `, missing ${names.join(", ")}` : ""}`;
    return;
  }
  box.classList.add("ok");
  box.textContent = `Connected and confirmed ${who}: ${result.status}`;
}

/** A connect flow that failed (popup closed, confirmation refused, ...). @param {unknown} err */
function showFlowError(err) {
  const box = $("result");
  box.className = "result bad";
  box.textContent =
    err instanceof ConnectError && err.code === "confirmation_failed"
      ? "Not connected: the broker refused to confirm this result for you (only the user who started the flow can)."
      : describeError(err);
  showError(err);
}

/**
 * Creates a connect session and runs connect.js. Must be called synchronously from the click
 * (connect() opens the popup before the session request is even sent).
 * @param {Record<string, unknown>} session  the connect-session body, without return_to and mode
 * @param {HTMLButtonElement | null} button
 */
function authorize(session, button) {
  clearError();
  const mode = $("mode").value === "redirect" ? "redirect" : "popup";
  const returnTo =
    mode === "redirect" ? `${window.location.origin}${window.location.pathname}` : window.location.origin;
  // A function, not a promise: connect() calls it only once the popup is open, so a blocked
  // popup creates no session.
  const authorizeUrl = () =>
    api("POST", "/v1/connect-sessions", { ...session, return_to: returnTo, mode }).then((s) => s.authorize_url);
  // The result comes from the broker's callback: the origin of the client's callback URL.
  const client = state.clients.find((c) => c.id === session.oauth_client_id);
  const brokerOrigin = client?.callback_url ? new URL(client.callback_url).origin : window.location.origin;
  const flow = connect({ authorizeUrl, brokerOrigin, mode, confirm: confirmAsSignedInUser });
  const box = $("result");
  box.className = "result";
  box.textContent = mode === "popup" ? "Waiting for the popup…" : "Redirecting…";
  if (button) button.disabled = true;
  flow
    .then(async (result) => {
      if (mode === "redirect") return;
      await loadConnections().catch(showError);
      showResult(result);
    })
    .catch(async (err) => {
      showFlowError(err);
      // a refused confirmation may have discarded a pending connection: show the list as it is
      if (err instanceof ConnectError && err.code === "confirmation_failed") await loadConnections().catch(() => {});
    })
    .finally(() => {
      if (button) button.disabled = false;
    });
}

/** @param {SubmitEvent} event */
function onConnectSubmit(event) {
  event.preventDefault();
  const scopes = [
    ...(/** @type {NodeListOf<HTMLInputElement>} */ ($("scope-list").querySelectorAll('input[name="scope"]:checked'))),
  ].map((b) => b.value);
  const name = $("connection-name").value.trim();
  const provider = $("provider").value;
  const oauthClientId = $("oauth-client").value;
  const problems = [];
  if (!provider) problems.push("pick a provider");
  if (!oauthClientId) problems.push("pick an OAuth client (an admin registers one in step 2)");
  if (!name) problems.push("name the connection");
  if (problems.length) {
    showError(new Error(`Cannot authorize yet: ${problems.join("; ")}.`));
    return;
  }
  /** @type {Record<string, unknown>} */
  const body = { provider, oauth_client_id: oauthClientId, name, scopes };
  const prompt = $("prompt").value;
  if (prompt) body.prompt = prompt;
  const hint = $("login-hint").value.trim();
  if (hint) body.login_hint = hint;
  authorize(body, $("save-authorize"));
}

/** @param {MouseEvent} event */
function onConnectionsClick(event) {
  const button = /** @type {HTMLElement} */ (event.target).closest("button[data-action]");
  if (!button) return;
  const conn = state.connections.find((c) => c.id === button.getAttribute("data-connection-id"));
  if (!conn) return;
  const action = button.getAttribute("data-action");
  if (action === "reauthorize") {
    /** @type {Record<string, unknown>} */
    const body = {
      provider: conn.provider,
      oauth_client_id: conn.oauth_client_id,
      name: conn.name,
      scopes: conn.scopes_requested || [],
      connection_id: conn.id,
    };
    const prompt = $("prompt").value;
    if (prompt) body.prompt = prompt;
    authorize(body, /** @type {HTMLButtonElement} */ (button));
  } else if (action === "delete") {
    if (!window.confirm(`Delete "${conn.name}"? The grant is revoked at the provider.`)) return;
    busy(/** @type {HTMLButtonElement} */ (button), async () => {
      await api("DELETE", `/v1/connections/${encodeURIComponent(conn.id)}`);
      await loadConnections();
    });
  }
}

// ---- sign-in ---------------------------------------------------------------------------------

function renderSignedIn() {
  const s = state.session;
  if (s) {
    // a restored session (after a reload or a redirect back) shows who is signed in
    $("tenant").value = s.tenant;
    $("user").value = s.user;
    $("admin").checked = !!s.admin;
  }
  $("whoami").textContent = s ? `Signed in as ${s.user} (tenant ${s.tenant}${s.admin ? ", admin" : ""})` : "Not signed in";
  $("sign-out").hidden = !s;
  $("admin-section").hidden = !(s && s.admin);
  $("connect-section").hidden = !s;
  $("connections-section").hidden = !s;
}

async function afterSignIn() {
  document.body.dataset.ready = "false"; // "true" again once everything is loaded (tests wait on it)
  renderSignedIn();
  // One after the other: the local runtime serves one request per function at a time best
  // (as a Lambda execution environment does), and the order keeps the page's state simple.
  const loads = [loadProviders, loadClients, loadConnections];
  if (state.session?.admin) loads.push(loadSettings);
  for (const load of loads) {
    try {
      await load();
    } catch (err) {
      showError(err);
    }
  }
  // the connections list needs the provider catalog for short scope names
  renderConnections();
  document.body.dataset.ready = "true";
}

async function signIn() {
  document.body.dataset.ready = "false";
  const body = { tenant: $("tenant").value.trim(), user: $("user").value.trim(), admin: $("admin").checked };
  const resp = await fetch("/dev-idp/token", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
    cache: "no-store",
  });
  const data = await resp.json().catch(() => ({}));
  if (!resp.ok) throw new ApiError(resp.status, data);
  state.session = { ...body, token: data.token };
  sessionStorage.setItem(STORAGE_KEY, JSON.stringify(state.session));
  await afterSignIn();
}

function signOut() {
  state.session = null;
  state.clients = [];
  state.connections = [];
  sessionStorage.removeItem(STORAGE_KEY);
  clearError();
  $("result").textContent = "";
  renderSignedIn();
}

function restoreSession() {
  try {
    const saved = JSON.parse(sessionStorage.getItem(STORAGE_KEY) || "null");
    if (saved && typeof saved.token === "string") return /** @type {Session} */ (saved);
  } catch {
    /* ignore */
  }
  return null;
}

// ---- wiring ----------------------------------------------------------------------------------

function init() {
  $("signin-form").addEventListener("submit", (/** @type {SubmitEvent} */ e) => {
    e.preventDefault();
    busy($("sign-in"), signIn);
  });
  $("sign-out").addEventListener("click", signOut);
  $("client-form").addEventListener("submit", (/** @type {SubmitEvent} */ e) => {
    e.preventDefault();
    busy($("register-client"), registerClient);
  });
  $("allow-origin").addEventListener("click", () => busy($("allow-origin"), allowOrigin));
  $("provider").addEventListener("change", () => {
    renderScopes();
    renderClientChoice();
  });
  $("scopes-all").addEventListener("click", () => setAllScopes(true));
  $("scopes-none").addEventListener("click", () => setAllScopes(false));
  $("connect-form").addEventListener("submit", onConnectSubmit);
  $("connections").addEventListener("click", onConnectionsClick);
  $("refresh-connections").addEventListener("click", () => busy($("refresh-connections"), loadConnections));

  state.session = restoreSession();
  renderSignedIn();
  document.body.dataset.ready = "false";
  // Redirect mode: completeRedirect() takes the result (and its confirmation) out of the address
  // bar at once, then confirms it as the signed-in user, before the page loads its lists.
  /** @type {{result: any, error: unknown}} */
  const redirected = { result: null, error: null };
  const confirmed = completeRedirect({ confirm: confirmAsSignedInUser }).then(
    (result) => {
      redirected.result = result;
    },
    (err) => {
      redirected.error = err;
    },
  );
  confirmed
    .then(() => (state.session ? afterSignIn() : undefined))
    .then(() => {
      if (redirected.error) showFlowError(redirected.error);
      else if (redirected.result) showResult(redirected.result);
      document.body.dataset.ready = "true";
    });
}

init();
