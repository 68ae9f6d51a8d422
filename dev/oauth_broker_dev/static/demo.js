// The demo page of `make dev`: sign in with a dev token, register an OAuth client, connect an
// account with connect.js (and confirm the result as the signed-in user), list / test /
// re-authorize / delete connections, watch a Gmail mailbox and show the tenant's webhook events
// (Gmail push). Talks to the broker's public API (same origin), and for the demo's own plumbing to
// the dev server's /demo/... routes and the fake Google's controls. Every
// piece of data goes into the page through textContent or attributes, never innerHTML.
//
// Messages: every action has its own status line next to its button (`say`): a new message
// replaces the one there and is scrolled into view; there is no page-wide banner. A connection's
// row actions (Test, Re-authorize) report on a line under that row.
import { connect, completeRedirect, ConnectError } from "./connect.esm.js";

const STORAGE_KEY = "oauth-broker-demo.session";
// Redirect mode: which connect flow left the page (a re-authorization names its connection), so
// that the page the browser comes back to can say what happened to what.
const FLOW_KEY = "oauth-broker-demo.flow";
const COPIED_MS = 1500;
const SENSITIVITY_LABELS = {
  non_sensitive: "non-sensitive",
  sensitive: "sensitive",
  restricted: "restricted",
};
// Google grants `email` and `profile` under their long names (the token response's `scope`), and
// GET /v1/providers does not list aliases: without this, the same scope shows under two names.
const GOOGLE_IDENTITY_ALIASES = {
  "https://www.googleapis.com/auth/userinfo.email": "email",
  "https://www.googleapis.com/auth/userinfo.profile": "profile",
};

/**
 * @typedef {{token: string, tenant: string, user: string, admin: boolean}} Session
 * @typedef {{scope: string, short_name?: string | null, sensitivity?: string, description?: string,
 *            base?: boolean, aliases?: string[]}} Scope  (GET /v1/providers; `base`: always requested)
 * @typedef {{key: string, display_name?: string, enabled?: boolean, custom?: boolean,
 *            scopes?: (Scope | string)[], default_scopes?: string[]}} Provider
 * @typedef {"ok" | "warn" | "bad" | "neutral" | "info"} Kind
 * @typedef {(text: string, kind?: Kind, code?: string) => void} Sink  where an action reports
 * @typedef {{text: string, kind: Kind, code?: string}} Note
 */

const state = {
  /** @type {Session | null} */ session: null,
  /** @type {Provider[]} */ providers: [],
  /** @type {any[]} */ clients: [],
  /** @type {any} */ settings: null,
  /** @type {any[]} */ connections: [],
  /** the message under each connection's row @type {Map<string, Note>} */ notes: new Map(),
  /** row actions under way, as "action:connection id" (their buttons stay disabled) @type {Set<string>} */
  inFlight: new Set(),
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

// ---- status lines ----------------------------------------------------------------------------

/**
 * The one way the page reports: `text` replaces whatever the action's line showed, and the line
 * is scrolled into view (only as far as needed). An empty text clears the line.
 * @param {HTMLElement} line @param {string} text @param {Kind} [kind] @param {string} [code]
 */
function say(line, text, kind = "info", code = undefined) {
  line.textContent = text;
  if (text) line.dataset.kind = kind;
  else delete line.dataset.kind;
  if (code) line.dataset.code = code;
  else delete line.dataset.code;
  if (text && line.getClientRects().length) line.scrollIntoView({ block: "nearest", inline: "nearest" });
}

/** @param {string} id @returns {Sink} */
const lineSink = (id) => (text, kind, code) => say($(id), text, kind, code);

/** A connection's line, under its row (kept across re-renders of the table). @param {string} connectionId @returns {Sink} */
const rowSink = (connectionId) => (text, kind = "info", code = undefined) => {
  if (text) state.notes.set(connectionId, { text, kind, code });
  else state.notes.delete(connectionId);
  renderConnections();
  const line = noteLine(connectionId);
  if (line) say(line, text, kind, code);
};

/** @param {string} connectionId @returns {HTMLElement | null} */
function noteLine(connectionId) {
  const rows = /** @type {HTMLTableRowElement[]} */ ([...$("connections").tBodies[0].rows]);
  const row = rows.find((r) => r.dataset.noteFor === connectionId);
  return row ? row.querySelector(".status-line") : null;
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

/** @param {unknown} err @returns {string | undefined} */
function errorCode(err) {
  if (err instanceof ApiError) return err.problem.code;
  if (err instanceof ConnectError) return err.code;
  return undefined;
}

/**
 * Runs an action with its button disabled; its line is cleared first and shows any error.
 * @param {HTMLButtonElement | null} button
 * @param {Sink} sink
 * @param {() => Promise<void>} action
 */
async function busy(button, sink, action) {
  sink("");
  if (button) button.disabled = true;
  try {
    await action();
  } catch (err) {
    sink(describeError(err), "bad", errorCode(err));
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

/** @param {string} key */
const providerName = (key) => providerByKey(key)?.display_name || key;

/** @param {Provider | undefined} p @returns {Scope[]} */
const allScopes = (p) => (p?.scopes || []).map(asScope);

/**
 * The catalog's entry of a scope named any way: its full string, its short name, an alias, or
 * Google's long name of an identity scope. @param {string} providerKey @param {string} scope
 */
function scopeInfo(providerKey, scope) {
  const scopes = allScopes(providerByKey(providerKey));
  const named = (/** @type {string} */ name) =>
    scopes.find((s) => s.scope === name || s.short_name === name || (s.aliases || []).includes(name));
  const alias = /** @type {Record<string, string>} */ (GOOGLE_IDENTITY_ALIASES)[scope];
  return named(scope) || (alias ? named(alias) : undefined);
}

/**
 * How the page names a scope, whichever form the API gave (requested scopes may be short names,
 * granted ones are the provider's long names): the catalog's short name. A Google-style scope URL
 * the catalog does not list is shortened to what follows `/auth/`.
 * @param {string} providerKey @param {string} scope
 */
function shortName(providerKey, scope) {
  const info = scopeInfo(providerKey, scope);
  if (info) return info.short_name || info.scope;
  const alias = /** @type {Record<string, string>} */ (GOOGLE_IDENTITY_ALIASES)[scope];
  if (alias) return alias;
  const at = scope.indexOf("/auth/");
  return /^https:\/\//.test(scope) && at > 0 && at + 6 < scope.length ? scope.slice(at + 6) : scope;
}

/** The long form of a scope (its tooltip). @param {string} providerKey @param {string} scope */
function longName(providerKey, scope) {
  if (/^https:\/\//.test(scope)) return scope;
  const info = scopeInfo(providerKey, scope);
  const forms = [info?.scope, ...(info?.aliases || []), scope].filter(Boolean);
  const identity = Object.entries(GOOGLE_IDENTITY_ALIASES).find(([, short]) => forms.includes(short));
  return forms.find((f) => /^https:\/\//.test(String(f))) || (identity ? identity[0] : String(forms[0]));
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
            h("span", { class: "scope-name", title: s.scope, text: s.short_name || s.scope }),
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
      : [{ value: "", label: "no client for this provider yet", disabled: true }],
  );
}

/** Copies the callback URL; the button says "Copied" for a moment, then its label again. */
async function copyCallback(/** @type {HTMLInputElement} */ input, /** @type {HTMLButtonElement} */ button) {
  input.select();
  try {
    await navigator.clipboard.writeText(input.value);
    button.textContent = "Copied";
  } catch {
    button.textContent = "Press Ctrl+C";
  }
  clearTimeout(Number(button.dataset.timer || 0));
  button.dataset.timer = String(setTimeout(() => (button.textContent = "Copy"), COPIED_MS));
}

function renderClients() {
  const list = $("clients");
  $("no-clients").hidden = state.clients.length > 0;
  list.replaceChildren(
    ...state.clients.map((c) => {
      const inputId = `callback-${c.id}`;
      const input = h("input", {
        id: inputId,
        readonly: true,
        value: c.callback_url || "",
        "aria-label": `Callback URL of ${c.name}`,
      });
      const copy = h("button", { type: "button", class: "small", "data-action": "copy", text: "Copy" });
      copy.addEventListener("click", () =>
        copyCallback(/** @type {HTMLInputElement} */ (input), /** @type {HTMLButtonElement} */ (copy)),
      );
      return h("li", { "data-client-id": c.id }, [
        h("strong", { text: c.name }),
        " ",
        h("span", { class: "muted", text: `${c.provider} · ${c.client_id} · secret ${c.secret_hint || "…"}` }),
        h("div", { class: "row" }, [h("label", { for: inputId, text: "Callback URL" }), input, copy]),
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
  const empty = [
    ["Name", body.name],
    ["Provider", body.provider],
    ["Client ID", body.client_id],
    ["Client secret", body.client_secret],
  ].filter(([, value]) => !value);
  if (empty.length) throw new Error(`Cannot register yet: fill in ${empty.map(([label]) => label).join(", ")}.`);
  const client = await api("POST", "/v1/oauth-clients", body);
  $("client-secret").value = "";
  $("provider").value = body.provider;
  renderScopes();
  await loadClients();
  say(
    $("client-status"),
    `Registered “${client.name}”. Add its callback URL (below) to the OAuth app's authorized redirect URIs.`,
    "ok",
  );
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
  $("origin-status").dataset.kind = allowed ? "ok" : "warn";
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
  const ids = new Set(state.connections.map((c) => c.id));
  for (const id of [...state.notes.keys()]) if (!ids.has(id)) state.notes.delete(id);
  renderConnections();
  renderGmailPush();
  refreshWatch();
}

/** Scopes named the page's one way, without duplicates. @param {string} providerKey @param {string[]} scopes */
function scopeNames(providerKey, scopes) {
  /** @type {Map<string, string>} */
  const names = new Map();
  for (const s of scopes) {
    const name = shortName(providerKey, s);
    if (!names.has(name)) names.set(name, longName(providerKey, s));
  }
  return names;
}

/**
 * The requested scopes the connection was not granted, compared by the page's one name of each
 * (a requested `email` is granted as `.../userinfo.email`).
 * @param {any} c @returns {string[]}
 */
function missingScopes(c) {
  if (Array.isArray(c.missing_scopes)) return c.missing_scopes;
  if (c.status === "active") return [];
  const granted = scopeNames(c.provider, c.scopes_granted || []);
  return (c.scopes_requested || []).filter((s) => !granted.has(shortName(c.provider, s)));
}

/** Short names, the long name as each one's tooltip. @param {string} providerKey @param {string[]} scopes */
function scopeList(providerKey, scopes) {
  const names = scopeNames(providerKey, scopes);
  if (!names.size) return h("span", { class: "muted", text: "—" });
  return h(
    "ul",
    {},
    [...names].map(([name, long]) => h("li", { title: long, text: name })),
  );
}

/** @param {string} action @param {string} label @param {any} c @param {string} [extra] */
function rowButton(action, label, c, extra = "") {
  return h("button", {
    type: "button",
    class: `small ${extra}`.trim(),
    "data-action": action,
    "data-connection-id": c.id,
    text: label,
    "aria-label": `${label} ${c.name || c.id}`,
    disabled: state.inFlight.has(`${action}:${c.id}`),
  });
}

/**
 * Marks a row action as under way (or done): its button is disabled, also across re-renders of
 * the table (a row's messages re-render it). @param {string} action @param {string} id @param {boolean} on
 */
function setInFlight(action, id, on) {
  const key = `${action}:${id}`;
  if (on) state.inFlight.add(key);
  else state.inFlight.delete(key);
  for (const b of /** @type {NodeListOf<HTMLButtonElement>} */ (
    $("connections").querySelectorAll(`button[data-action="${action}"]`)
  )) {
    if (b.dataset.connectionId === id) b.disabled = on;
  }
}

function renderConnections() {
  const body = $("connections").tBodies[0];
  $("no-connections").hidden = state.connections.length > 0;
  body.replaceChildren(
    ...state.connections.flatMap((c) => {
      const status = String(c.status || "unknown");
      const account = c.account?.email || c.account?.sub || "—";
      const note = state.notes.get(c.id);
      const row = h("tr", { "data-connection-id": c.id, class: note ? "has-note" : undefined }, [
        h("td", { "data-label": "Name" }, [
          h("div", {}, [
            h("span", { class: "name", text: c.name || "" }),
            h("br"),
            h("code", { class: "muted", text: c.id }),
          ]),
        ]),
        h("td", { class: "provider", "data-label": "Provider", text: c.provider }),
        h("td", { class: "account", "data-label": "Account", text: account }),
        h("td", { "data-label": "Status" }, [
          h("div", {}, [
            h("span", { class: `status status-${status.replace(/[^a-z_]/g, "")}`, text: status }),
            c.status_reason ? h("div", { class: "muted reason", text: c.status_reason }) : null,
          ]),
        ]),
        h("td", { class: "granted", "data-label": "Granted" }, [scopeList(c.provider, c.scopes_granted || [])]),
        h("td", { class: "missing", "data-label": "Missing" }, [scopeList(c.provider, missingScopes(c))]),
        h("td", { "data-label": "" }, [
          h("div", { class: "actions" }, [
            rowButton("test", "Test", c),
            rowButton("reauthorize", "Re-authorize", c),
            rowButton("delete", "Delete", c, "danger"),
          ]),
        ]),
      ]);
      if (!note) return [row];
      const line = h("p", { class: "status-line", role: "status", "data-kind": note.kind, text: note.text });
      if (note.code) line.dataset.code = note.code;
      return [row, h("tr", { class: "note-row", "data-note-for": c.id }, [h("td", { colspan: "7" }, [line])])];
    }),
  );
}

// Advice after a failed Test, by its error code.
const TEST_ADVICE = {
  needs_reauth: "Re-authorize it to repair it.",
  revoked: "Connect the account again.",
  provider_disabled: "An admin has disabled this provider: ask them to enable it.",
  scope_not_granted: "Re-authorize it and allow the missing scopes.",
  account_mismatch: "Re-authorize it with the account it was made with.",
  rate_limited: "Wait a moment and test again.",
  upstream_timeout: "The provider was slow: test again in a moment.",
  upstream_error: "The provider answered with an error: test again in a moment.",
};

/** @param {any} conn */
async function testConnection(conn) {
  const sink = rowSink(conn.id);
  sink("Testing…", "info");
  const answer = await api("POST", `/v1/connections/${encodeURIComponent(conn.id)}/test`);
  // a test can change the status (a rejected refresh makes it needs_reauth): show it
  await loadConnections();
  if (answer.ok) {
    const who = answer.account?.email || answer.account?.sub || "the provider answered";
    sink(`OK: ${who}, ${answer.latency_ms} ms`, "ok");
  } else {
    const code = answer.error?.code || "error";
    const advice = /** @type {Record<string, string>} */ (TEST_ADVICE)[code] || "";
    const detail = answer.error?.detail ? `: ${answer.error.detail}` : "";
    sink(`Failed (${code}, ${answer.latency_ms} ms)${detail}. ${advice}`.trim(), "bad", code);
  }
}

/**
 * What a DELETE did, from its answer (204: null; 200: {revoked: false, revocation, ...}).
 * @param {any} conn @param {any} answer @returns {[string, Kind]}
 */
function deleteOutcome(conn, answer) {
  const what = `Deleted “${conn.name || conn.id}” (${conn.id})`;
  const provider = providerName(conn.provider);
  if (!answer || answer.revoked !== false) return [`${what}: its grant was revoked at ${provider}.`, "ok"];
  if (answer.revocation === "kept_shared_grant") {
    const holders = (answer.shared_with || []).map((/** @type {string} */ id) => {
      const other = state.connections.find((c) => c.id === id);
      return other ? `“${other.name}” (${id})` : id;
    });
    return [
      `${what}. Its grant at ${provider} was kept, not revoked: ${holders.join(", ") || "other connections"} ` +
        `still use it (the provider revokes an OAuth client's grant for an account all at once). ` +
        "Deleting the last of them revokes it.",
      "warn",
    ];
  }
  if (answer.revocation === "not_supported") {
    return [
      `${what}. ${provider} offers no way to revoke its grant: the account owner can remove the app ` +
        "in their account's security settings.",
      "warn",
    ];
  }
  return [
    `${what}, but ${provider} could not be told to revoke its grant${answer.error ? ` (${answer.error})` : ""}: ` +
      "the grant may still be alive. The account owner can remove the app in their account's security settings.",
    "warn",
  ];
}

/** @param {any} conn */
async function deleteConnection(conn) {
  const answer = await api("DELETE", `/v1/connections/${encodeURIComponent(conn.id)}`);
  state.notes.delete(conn.id);
  const [text, kind] = deleteOutcome(conn, answer);
  await loadConnections();
  say($("connections-status"), text, kind, answer?.revocation);
}

// ---- Gmail push ------------------------------------------------------------------------------
//
// A tenant app learns of new mail through its webhook: this section points the tenant's
// `webhook_url` at the demo's receiver on the dev server (/demo/webhook/..., which verifies each
// delivery's HMAC signature as docs/webhooks.md says and keeps the tenant's last events), then
// polls what the receiver verified. The tenant's `gmail_push` settings come from the local fake
// Google's Pub/Sub topic (GET /demo/gmail-push-settings), never from this file.

// Gmail's read scopes: a watch needs one (API.md "Gmail push notifications").
const GMAIL_READ_SCOPES = new Set([
  "https://mail.google.com/",
  "https://www.googleapis.com/auth/gmail.readonly",
  "https://www.googleapis.com/auth/gmail.modify",
  "https://www.googleapis.com/auth/gmail.metadata",
]);
const EVENTS_POLL_MS = 400;
const EVENTS_SHOWN = 50;

const push = {
  /** the watch state of each connection, as GET .../gmail/watch answers @type {Map<string, any>} */
  watches: new Map(),
  /** the demo receiver's URL for this tenant, once it is the tenant's webhook_url @type {string | null} */
  receiver: null,
  /** verified events, newest first @type {{seq: number, received_at: number, event: any}[]} */
  events: [],
  lastSeq: 0,
  /** @type {number | null} */ timer: null,
  /** bumped at every sign-in and sign-out, so that a poll of an earlier session is dropped */
  epoch: 0,
  /** test messages sent from this page: message id -> performance.now() at sending @type {Map<string, number>} */
  sent: new Map(),
};

/** @param {any} c */
const gmailWatchable = (c) =>
  ["active", "partial"].includes(c.status) && (c.scopes_granted || []).some((/** @type {string} */ s) => GMAIL_READ_SCOPES.has(s));

/** @returns {any | undefined} the connection chosen in the Gmail push section */
function watchedConnection() {
  const id = $("watch-connection").value;
  return state.connections.find((c) => c.id === id && gmailWatchable(c));
}

/** @param {string | null | undefined} when @returns {string} */
const localTime = (when) => (when ? new Date(when).toLocaleString() : "—");

function renderGmailPush() {
  const candidates = state.connections.filter(gmailWatchable);
  fillSelect(
    $("watch-connection"),
    candidates.length
      ? candidates.map((c) => ({ value: c.id, label: `${c.name} · ${c.account?.email || c.id}` }))
      : [{ value: "", label: "no Gmail connection with a read scope yet", disabled: true }],
  );
  const conn = watchedConnection();
  const watch = conn ? push.watches.get(conn.id) : undefined;
  const line = $("watch-state");
  if (!conn) line.textContent = "Connect a Gmail account with gmail.readonly (step 3) to watch it.";
  else if (!watch) line.textContent = "…";
  else if (watch.active) {
    const labels = (watch.label_ids || []).join(", ") || "every label";
    line.textContent =
      `Watching ${conn.account?.email || conn.id} (${labels}), expires ${localTime(watch.expires_at)}` +
      `; history id ${watch.last_history_id}; last notification ${localTime(watch.last_notification_at)}`;
  } else line.textContent = "Not watching.";
  line.dataset.active = String(!!watch?.active);
  $("watch-start").disabled = !conn;
  $("watch-stop").disabled = !watch?.active;
  $("send-test-message").disabled = !conn;
}

/** Reads the chosen connection's watch state (not awaited by the lists: one GET, shown when in). */
async function loadWatch() {
  const conn = watchedConnection();
  if (!conn) return;
  const watch = await api("GET", `/v1/connections/${encodeURIComponent(conn.id)}/gmail/watch`);
  push.watches.set(conn.id, watch);
  renderGmailPush();
}

function refreshWatch() {
  const conn = watchedConnection();
  if (!state.session?.admin || !conn || push.watches.has(conn.id)) return;
  loadWatch().catch((err) => say($("watch-status"), describeError(err), "bad", errorCode(err)));
}

/** The tenant's gmail_push settings: set from the local fake Google's topic when there are none. */
async function ensureGmailPushSettings() {
  if (!state.settings) state.settings = await api("GET", "/v1/settings");
  if (state.settings.gmail_push) return;
  const local = await api("GET", "/demo/gmail-push-settings");
  state.settings = await api("PATCH", "/v1/settings", { gmail_push: local.gmail_push });
  renderOrigins();
}

/** The tenant's webhook_url is the demo's receiver (a new one, with a new secret, when it is not). */
async function ensureWebhook() {
  const current = await api("GET", "/demo/webhook/receivers");
  if (current.webhook_url && state.settings?.webhook_url === current.webhook_url) {
    push.receiver = current.webhook_url;
  } else {
    // the receiver's secret goes from the dev server to the broker's settings (write-only there)
    const created = await api("POST", "/demo/webhook/receivers");
    state.settings = await api("PATCH", "/v1/settings", {
      webhook_url: created.webhook_url,
      webhook_secret: created.webhook_secret,
    });
    push.receiver = created.webhook_url;
  }
  renderEventsSource();
  startPolling();
}

async function startWatch() {
  const conn = watchedConnection();
  if (!conn) throw new Error("Choose a Gmail connection with a read scope first.");
  const line = $("watch-status");
  say(line, "Setting the tenant's Gmail push settings and webhook…", "info");
  await ensureGmailPushSettings();
  await ensureWebhook();
  say(line, `Watching ${conn.account?.email || conn.id}…`, "info");
  await api("PUT", `/v1/connections/${encodeURIComponent(conn.id)}/gmail/watch`, { label_ids: ["INBOX"] });
  const watch = await api("GET", `/v1/connections/${encodeURIComponent(conn.id)}/gmail/watch`);
  push.watches.set(conn.id, watch);
  renderGmailPush();
  say(
    line,
    `Watching the inbox of ${conn.account?.email || conn.id}: new messages appear under Events.`,
    "ok",
  );
}

async function stopWatch() {
  const conn = watchedConnection();
  if (!conn) return;
  await api("DELETE", `/v1/connections/${encodeURIComponent(conn.id)}/gmail/watch`);
  push.watches.set(conn.id, { active: false, connection_id: conn.id });
  renderGmailPush();
  say($("watch-status"), `Stopped watching ${conn.account?.email || conn.id}.`, "ok");
}

/** A message arrives in the chosen connection's mailbox: the fake Google's control route. */
async function sendTestMessage() {
  const conn = watchedConnection();
  const email = conn?.account?.email;
  if (!email) throw new Error("Choose a Gmail connection first.");
  const resp = await fetch("/fake-google/_control/gmail/deliver", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({
      email,
      from: "Demo Sender <sender@example.net>",
      subject: `Test message ${new Date().toLocaleTimeString()}`,
      text: "Sent from the oauth-broker demo page.",
    }),
    credentials: "omit",
    cache: "no-store",
  });
  const data = await resp.json().catch(() => ({}));
  if (!resp.ok) throw new ApiError(resp.status, data);
  push.sent.set(String(data.id), performance.now());
  const watching = push.watches.get(conn.id)?.active;
  say(
    $("watch-status"),
    watching
      ? `Delivered message ${data.id} to ${email}; its event appears under Events.`
      : `Delivered message ${data.id} to ${email}. The mailbox is not watched: click Watch mailbox to get events.`,
    watching ? "info" : "warn",
  );
}

function renderEventsSource() {
  $("events-source").textContent = push.receiver
    ? `Deliveries to ${push.receiver}, verified (HMAC-SHA256), newest first.`
    : "Watch a mailbox to point the tenant's webhook at this page's receiver.";
}

/** @param {any} event @returns {string} */
function connectionLabel(event) {
  const id = event.connection_id || event.connection?.connection_id || "";
  const conn = state.connections.find((c) => c.id === id);
  return conn ? `${conn.name} (${id})` : id || "—";
}

/** One event of the list. @param {{seq: number, received_at: number, event: any}} entry */
function eventItem({ event, received_at: receivedAt }) {
  const messages = Array.isArray(event.messages) ? event.messages : [];
  const when = new Date((Number(receivedAt) || 0) * 1000);
  return h(
    "li",
    {
      "data-event-id": event.event_id,
      "data-type": event.type,
      "data-connection-id": event.connection_id || event.connection?.connection_id,
    },
    [
      h("div", { class: "event-head" }, [
        h("code", { class: "event-type", text: event.type }),
        h("span", { class: "event-connection muted", text: connectionLabel(event) }),
        h("time", { class: "event-time muted", datetime: when.toISOString(), text: when.toLocaleTimeString() }),
      ]),
      messages.length
        ? h(
            "ul",
            { class: "event-messages", "aria-label": "Message ids" },
            messages.map((/** @type {any} */ m) =>
              h("li", { "data-message-id": m.id }, [
                h("code", { text: m.id }),
                h("span", { class: "muted", text: ` thread ${m.thread_id} · ${(m.label_ids || []).join(", ")}` }),
              ]),
            ),
          )
        : null,
      event.type === "gmail.history_reset"
        ? h("div", { class: "muted", text: `history reset: new baseline ${event.history_id || ""}` })
        : null,
    ],
  );
}

/** The whole list (at sign-in and sign-out; new events are added on top by `showArrived`). */
function renderEvents() {
  $("no-events").hidden = push.events.length > 0;
  $("events").replaceChildren(...push.events.map(eventItem));
}

/** New events go on top, so that the live region announces only them. @param {any[]} arrived oldest first */
function showArrived(arrived) {
  const list = $("events");
  for (const entry of arrived) list.prepend(eventItem(entry));
  while (list.children.length > EVENTS_SHOWN) list.lastElementChild.remove();
  $("no-events").hidden = push.events.length > 0;
}

/** @param {{seq: number, received_at: number, event: any}[]} arrived */
function reportSentMessages(arrived) {
  for (const { event } of arrived) {
    for (const m of Array.isArray(event.messages) ? event.messages : []) {
      const sentAt = push.sent.get(m.id);
      if (sentAt === undefined) continue;
      push.sent.delete(m.id);
      const ms = Math.round(performance.now() - sentAt);
      say($("watch-status"), `Event for message ${m.id} shown ${ms} ms after it was sent.`, "ok");
    }
  }
}

async function pollEvents() {
  const epoch = push.epoch;
  const answer = await api("GET", `/demo/webhook/events?after=${push.lastSeq}`);
  if (epoch !== push.epoch) return;
  const arrived = Array.isArray(answer.events) ? answer.events : [];
  if (!arrived.length) return;
  push.lastSeq = Math.max(push.lastSeq, ...arrived.map((/** @type {any} */ e) => Number(e.seq) || 0));
  push.events = [...[...arrived].reverse(), ...push.events].slice(0, EVENTS_SHOWN);
  showArrived(arrived);
  reportSentMessages(arrived);
  // a notification moves the watch's history id on: show it (the old state stays until then)
  if (arrived.some((/** @type {any} */ e) => e.event.type?.startsWith("gmail."))) {
    loadWatch().catch((err) => say($("watch-status"), describeError(err), "bad", errorCode(err)));
  }
}

function startPolling() {
  if (push.timer !== null) return;
  const epoch = push.epoch;
  const tick = () => {
    if (epoch !== push.epoch) return;
    pollEvents()
      .catch((err) => say($("watch-status"), `Could not read the events: ${describeError(err)}`, "bad"))
      .finally(() => {
        if (epoch === push.epoch) push.timer = window.setTimeout(tick, EVENTS_POLL_MS);
      });
  };
  push.timer = window.setTimeout(tick, 0);
}

function resetGmailPush() {
  push.epoch += 1;
  if (push.timer !== null) window.clearTimeout(push.timer);
  push.timer = null;
  push.watches.clear();
  push.receiver = null;
  push.events = [];
  push.lastSeq = 0;
  push.sent.clear();
  say($("watch-status"), "");
  renderEventsSource();
  renderEvents();
}

/** After sign-in (admin): resume polling when the tenant's webhook already is the demo's receiver. */
async function loadGmailPush() {
  const current = await api("GET", "/demo/webhook/receivers");
  if (current.webhook_url && state.settings?.webhook_url === current.webhook_url) {
    push.receiver = current.webhook_url;
    startPolling();
  }
  renderEventsSource();
  renderGmailPush();
  refreshWatch();
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

/**
 * What the user reads for each error code of a flow's result (the callback's codes, as in
 * oauth_broker/connect/result_page.py ERROR_MESSAGES) and of connect.js: what happened, then what
 * to do. `again` is the button to press again.
 * @type {Record<string, (again: string, account: string) => [string, Kind]>}
 */
const FLOW_MESSAGES = {
  access_denied: (again) => [`You cancelled; nothing was connected. Click ${again} when you want to try again.`, "neutral"],
  account_mismatch: (again, account) => [
    `Not re-authorized: you chose another account than ${
      account ? `${account}, the one` : "the one"
    } this connection belongs to. Nothing was changed. Click ${again} and choose ${account || "the connection's account"}.`,
    "bad",
  ],
  consent_required: (again) => [
    `Not connected: the account has not allowed these permissions yet. Set Prompt to "consent", click ${again} and allow access.`,
    "bad",
  ],
  interaction_required: (again) => [
    `Not connected: the provider needs you to sign in and allow access, which Prompt "none" cannot show. Set Prompt to "consent" and click ${again}.`,
    "bad",
  ],
  login_required: (again) => [
    `Not connected: the provider needs you to sign in. Set Prompt to "consent" or "select_account" and click ${again}.`,
    "bad",
  ],
  account_selection_required: (again) => [
    `Not connected: more than one account could answer. Put the account in Login hint, or set Prompt to "select_account", and click ${again}.`,
    "bad",
  ],
  invalid_scope: (again) => [
    `Not connected: the provider refused the requested permissions. Untick scopes the OAuth app may not request (check its OAuth consent screen in Google Cloud console) and click ${again}.`,
    "bad",
  ],
  provider_error: (again) => [
    `Not connected: the provider reported an error. Click ${again} to try again; if it keeps failing, check the OAuth app in the provider's console.`,
    "bad",
  ],
  issuer_mismatch: () => [
    "Not connected: the answer did not come from the expected provider, so the broker refused it. An admin should check the provider's configuration.",
    "bad",
  ],
  issuer_missing: () => [
    "Not connected: the answer did not say which provider sent it, so the broker refused it. An admin should check the provider's configuration.",
    "bad",
  ],
  token_exchange_failed: (again) => [
    `Not connected: the provider did not complete the sign-in. Check the OAuth client's ID and secret (step 2) and that its callback URL is an authorized redirect URI of the app, then click ${again}.`,
    "bad",
  ],
  invalid_id_token: (again) => [
    `Not connected: the provider's identity token could not be verified. Click ${again} to try again; if it keeps failing, an admin should check the provider's configuration.`,
    "bad",
  ],
  provider_disabled: () => [
    "Not connected: an admin has disabled this provider for your tenant. Ask them to enable it.",
    "bad",
  ],
  oauth_client_not_found: () => [
    "Not connected: the OAuth client of this connection no longer exists. An admin registers one (step 2); then connect again.",
    "bad",
  ],
  connection_not_found: () => [
    "Not re-authorized: the connection no longer exists. Click Refresh, then connect the account anew.",
    "bad",
  ],
  upstream_error: (again) => [`Not connected: the provider could not be reached. Click ${again} again in a moment.`, "bad"],
  service_unavailable: (again) => [
    `Not connected: one of the broker's own services was busy or failing. Click ${again} again in a moment.`,
    "bad",
  ],
  internal_error: (again) => [
    `Not connected: something went wrong in the broker (its log in make dev's terminal says what). Click ${again} to try again.`,
    "bad",
  ],
  // connect.js's own codes
  popup_closed: (again) => [
    `The popup was closed before the connection finished; nothing was connected. Click ${again} to try again.`,
    "neutral",
  ],
  popup_blocked: (again) => [`The browser blocked the popup: allow popups for this page, then click ${again}.`, "bad"],
  timeout: (again) => [`No answer within 10 minutes; nothing was connected. Click ${again} to try again.`, "bad"],
  superseded: () => ["A newer connect flow took over this one.", "neutral"],
  aborted: () => ["The connect flow was stopped; nothing was connected.", "neutral"],
};

/**
 * Where a flow reports and how it names things: the connect form's line, or (re-authorizing)
 * the connection's row.
 * @typedef {{sink: Sink, again: string, reauth: {id: string, name?: string, account?: string} | null}} FlowTarget
 */

/** @param {{id: string, name?: string, account?: string} | null} reauth @returns {FlowTarget} */
function flowTarget(reauth) {
  return reauth
    ? { sink: rowSink(reauth.id), again: "Re-authorize", reauth }
    : { sink: lineSink("result"), again: "Save & authorize", reauth: null };
}

/** @param {FlowTarget} target @param {string} code @param {string} [extra] */
function reportFlowError(target, code, extra = "") {
  const message = FLOW_MESSAGES[code];
  if (message) {
    const [text, kind] = message(target.again, target.reauth?.account || "");
    target.sink(`${text} (${code})${extra ? `\n${extra}` : ""}`, kind, code);
  } else {
    target.sink(`Not connected: the flow ended with “${code}”. Click ${target.again} to try again.${extra ? `\n${extra}` : ""}`, "bad", code);
  }
}

/** @param {FlowTarget} target @param {import("./connect.esm.js").ConfirmedResult | any} result */
function showResult(target, result) {
  if (result.error) {
    reportFlowError(target, result.error);
    return;
  }
  const conn = result.connection || state.connections.find((c) => c.id === result.connection_id);
  const who = conn?.account?.email ? `${conn.account.email} (${result.connection_id})` : result.connection_id;
  const done = target.reauth ? "Re-authorized and confirmed" : "Connected and confirmed";
  if (result.status === "partial") {
    const names = [...scopeNames(conn?.provider || "", result.missing_scopes || missingScopes(conn || {})).keys()];
    target.sink(
      `${done} ${who}: partial${names.length ? `, missing ${names.join(", ")}` : ""}. Re-authorize it to ask for them again.`,
      "warn",
    );
    return;
  }
  target.sink(`${done} ${who}: ${result.status}`, "ok");
}

/** A connect flow that failed (popup closed, confirmation refused, ...). @param {FlowTarget} target @param {unknown} err */
function showFlowError(target, err) {
  if (err instanceof ConnectError && err.code === "confirmation_failed") {
    const cause = /** @type {any} */ (err).cause;
    target.sink(
      "Not connected: the broker refused to confirm this result for you (only the user who started the flow can)." +
        `\n${cause instanceof ApiError ? cause.describe() : err.message}`,
      "bad",
      err.code,
    );
  } else if (err instanceof ConnectError && FLOW_MESSAGES[err.code]) {
    reportFlowError(target, err.code);
  } else if (err instanceof ConnectError && err.code === "authorize_url_failed") {
    target.sink(`Could not start the connect flow: ${describeError(err)}`, "bad", errorCode(err));
  } else {
    target.sink(describeError(err), "bad", errorCode(err));
  }
}

/**
 * Creates a connect session and runs connect.js. Must be called synchronously from the click
 * (connect() opens the popup before the session request is even sent).
 * @param {Record<string, unknown>} session  the connect-session body, without return_to and mode
 * @param {HTMLButtonElement | null} button
 * @param {FlowTarget} target
 */
function authorize(session, button, target) {
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
  if (mode === "redirect") sessionStorage.setItem(FLOW_KEY, JSON.stringify({ reauth: target.reauth }));
  const flow = connect({ authorizeUrl, brokerOrigin, mode, confirm: confirmAsSignedInUser });
  if (target.reauth) setInFlight("reauthorize", target.reauth.id, true);
  target.sink(mode === "popup" ? "Waiting for the popup…" : "Redirecting…", "info");
  if (button) button.disabled = true;
  flow
    .then(async (result) => {
      if (mode === "redirect") return;
      await loadConnections().catch((err) => say($("connections-status"), describeError(err), "bad"));
      showResult(target, result);
    })
    .catch(async (err) => {
      if (mode === "redirect") sessionStorage.removeItem(FLOW_KEY);
      showFlowError(target, err);
      // a refused confirmation may have discarded a pending connection: show the list as it is
      if (err instanceof ConnectError && err.code === "confirmation_failed") await loadConnections().catch(() => {});
    })
    .finally(() => {
      if (target.reauth) setInFlight("reauthorize", target.reauth.id, false);
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
    say($("result"), `Cannot authorize yet: ${problems.join("; ")}.`, "bad");
    return;
  }
  /** @type {Record<string, unknown>} */
  const body = { provider, oauth_client_id: oauthClientId, name, scopes };
  const prompt = $("prompt").value;
  if (prompt) body.prompt = prompt;
  const hint = $("login-hint").value.trim();
  if (hint) body.login_hint = hint;
  authorize(body, $("save-authorize"), flowTarget(null));
}

/** @param {MouseEvent} event */
function onConnectionsClick(event) {
  const button = /** @type {HTMLButtonElement | null} */ (
    /** @type {HTMLElement} */ (event.target).closest("button[data-action]")
  );
  if (!button) return;
  const conn = state.connections.find((c) => c.id === button.getAttribute("data-connection-id"));
  if (!conn) return;
  const action = button.getAttribute("data-action");
  if (action === "reauthorize") {
    const account = conn.account?.email || undefined;
    /** @type {Record<string, unknown>} */
    const body = {
      provider: conn.provider,
      oauth_client_id: conn.oauth_client_id,
      name: conn.name,
      scopes: conn.scopes_requested || [],
      connection_id: conn.id,
    };
    // the consent page preselects the connection's account: another one ends in account_mismatch
    if (account) body.login_hint = account;
    const prompt = $("prompt").value;
    if (prompt) body.prompt = prompt;
    authorize(body, button, flowTarget({ id: conn.id, name: conn.name, account }));
  } else if (action === "test") {
    if (state.inFlight.has(`test:${conn.id}`)) return;
    setInFlight("test", conn.id, true);
    busy(null, rowSink(conn.id), () => testConnection(conn)).finally(() => setInFlight("test", conn.id, false));
  } else if (action === "delete") {
    if (!window.confirm(`Delete “${conn.name}”? The broker asks the provider to revoke its grant.`)) return;
    busy(button, lineSink("connections-status"), () => deleteConnection(conn));
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
  $("gmail-push-section").hidden = !(s && s.admin);
}

async function afterSignIn() {
  document.body.dataset.ready = "false"; // "true" again once everything is loaded (tests wait on it)
  renderSignedIn();
  // One after the other: the local runtime serves one request per function at a time best
  // (as a Lambda execution environment does), and the order keeps the page's state simple.
  /** @type {[string, () => Promise<void>][]} */
  const loads = [
    ["providers", loadProviders],
    ["OAuth clients", loadClients],
    ["connections", loadConnections],
  ];
  if (state.session?.admin) loads.push(["settings", loadSettings], ["Gmail push state", loadGmailPush]);
  const failed = [];
  for (const [what, load] of loads) {
    try {
      await load();
    } catch (err) {
      failed.push(`Could not load the ${what}: ${describeError(err)}`);
    }
  }
  if (failed.length) say($("signin-status"), failed.join("\n"), "bad");
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
  for (const id of ["client-status", "result", "connections-status"]) say($(id), "");
  state.notes.clear();
  resetGmailPush();
  await afterSignIn();
}

function signOut() {
  state.session = null;
  state.clients = [];
  state.connections = [];
  state.notes.clear();
  sessionStorage.removeItem(STORAGE_KEY);
  resetGmailPush();
  for (const id of ["signin-status", "client-status", "result", "connections-status"]) say($(id), "");
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

/** The flow that left for the provider in redirect mode (read once). @returns {FlowTarget} */
function returningFlow() {
  let reauth = null;
  try {
    const saved = JSON.parse(sessionStorage.getItem(FLOW_KEY) || "null");
    if (saved?.reauth && typeof saved.reauth.id === "string") reauth = saved.reauth;
  } catch {
    /* ignore */
  }
  sessionStorage.removeItem(FLOW_KEY);
  return flowTarget(reauth);
}

// ---- wiring ----------------------------------------------------------------------------------

function init() {
  $("signin-form").addEventListener("submit", (/** @type {SubmitEvent} */ e) => {
    e.preventDefault();
    busy($("sign-in"), lineSink("signin-status"), signIn);
  });
  $("sign-out").addEventListener("click", signOut);
  $("client-form").addEventListener("submit", (/** @type {SubmitEvent} */ e) => {
    e.preventDefault();
    busy($("register-client"), lineSink("client-status"), registerClient);
  });
  $("allow-origin").addEventListener("click", () => busy($("allow-origin"), lineSink("origin-status"), allowOrigin));
  $("provider").addEventListener("change", () => {
    renderScopes();
    renderClientChoice();
  });
  $("scopes-all").addEventListener("click", () => setAllScopes(true));
  $("scopes-none").addEventListener("click", () => setAllScopes(false));
  $("connect-form").addEventListener("submit", onConnectSubmit);
  $("connections").addEventListener("click", onConnectionsClick);
  $("refresh-connections").addEventListener("click", () =>
    busy($("refresh-connections"), lineSink("connections-status"), loadConnections),
  );
  $("watch-connection").addEventListener("change", () => {
    renderGmailPush();
    refreshWatch();
  });
  // busy() enables its button again: the state decides which ones may be clicked
  for (const [id, action] of /** @type {[string, () => Promise<void>][]} */ ([
    ["watch-start", startWatch],
    ["watch-stop", stopWatch],
    ["send-test-message", sendTestMessage],
  ])) {
    $(id).addEventListener("click", () => busy($(id), lineSink("watch-status"), action).then(renderGmailPush));
  }

  state.session = restoreSession();
  renderSignedIn();
  document.body.dataset.ready = "false";
  // Redirect mode: completeRedirect() takes the result (connection_id, status, confirmation,
  // error, missing_scopes) out of the address bar at once (history.replaceState), then confirms
  // it as the signed-in user, before the page loads its lists and shows the outcome.
  const returning = new URLSearchParams(window.location.search).toString() !== "";
  const target = returning ? returningFlow() : flowTarget(null);
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
      // signed out, the connect section is hidden: say it where the user is asked to sign in
      const where = state.session ? target : { ...target, sink: lineSink("signin-status") };
      if (redirected.error) showFlowError(where, redirected.error);
      else if (redirected.result) showResult(where, redirected.result);
      document.body.dataset.ready = "true";
    });
}

init();
