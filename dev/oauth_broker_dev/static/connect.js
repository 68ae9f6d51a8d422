/*
 * connect.js: the browser half of oauth-broker's connect flow. Dependency-free.
 *
 *   Classic script:  <script src="https://BROKER/demo/connect.js"></script>
 *                    window.OAuthBroker.connect({...})
 *   ES module:       import { connect } from "https://BROKER/demo/connect.esm.js";
 *                    (or `import "./connect.js"` for its side effect, then window.OAuthBroker)
 *
 * Popup mode (default): call connect() synchronously inside the click handler (before any
 * `await`), so that the browser's popup blocker sees the user's gesture. Pass the authorize URL
 * itself, or a promise / function for it while your backend creates the connect session: the
 * popup opens at once on about:blank and is sent to the URL when it arrives.
 *
 * Confirmation: whoever opens an authorize URL consents with their own account, so the broker
 * keeps what the callback obtained pending until the user who created the session confirms it.
 * The callback's message carries {status: "pending", confirmation: "cfm_…"}; connect() hands the
 * confirmation to the app's `confirm(confirmation)` (required: it asks the app's backend, as the
 * signed-in user, to call POST /v1/connect-sessions/confirm, or calls it directly with the user's
 * JWT, and resolves with the confirmed connection), and resolves with
 *   {type: "oauth-broker:result", connection_id, status, error, missing_scopes?, connection}
 * where `status` and `connection` are the confirmed connection's (an `error` such as
 * "access_denied" is a result, not a rejection: then `connection` is null and confirm() is not
 * called). It rejects with a ConnectError whose `code` is one of: popup_blocked, popup_closed,
 * timeout, aborted, superseded, invalid_authorize_url, authorize_url_failed, invalid_options,
 * confirmation_failed.
 *
 * Only a message whose origin is exactly `brokerOrigin` and whose source is the popup this
 * call opened is accepted; everything else is ignored. Listeners and timers are removed when
 * the result arrives (or the promise settles otherwise).
 *
 * Redirect mode ({mode: "redirect"}) navigates this window to the authorize URL; the broker
 * sends the browser back to the session's return_to with
 * ?connection_id=&status=pending&confirmation= (or ?error=). On that page, completeRedirect({confirm})
 * reads the result, removes it from the address bar and confirms it, like connect() does;
 * readRedirectResult() only reads it (and removes it from the address bar too).
 *
 * Written without import/export statements so that one file works as a classic script and as
 * a module; connect.esm.js re-exports it with named exports.
 */
"use strict";

(function (root) {
  /** The `type` of the broker callback's postMessage payload. */
  var RESULT_TYPE = "oauth-broker:result";
  /** Default: a connect session and an OAuth state live 10 minutes. */
  var DEFAULT_TIMEOUT_MS = 10 * 60 * 1000;
  var DEFAULT_POPUP_NAME = "oauth-broker-connect";
  var CLOSED_POLL_MS = 250;
  /** After the popup is seen closed, how long a result already posted may still take to arrive. */
  var CLOSED_GRACE_MS = 750;
  var RESULT_PARAMS = ["connection_id", "status", "error", "missing_scopes", "confirmation"];
  /**
   * The pending flow of each popup name. window.open() with the same name reuses the window, so
   * a new flow supersedes the old one (which would otherwise accept the new flow's result).
   * @type {Record<string, (err: ConnectError) => void>}
   */
  var pending = Object.create(null);

  /**
   * @typedef {"pending" | "active" | "partial" | "needs_reauth" | "revoked"} ConnectionStatus
   */

  /**
   * The broker callback's result, type-checked (what readRedirectResult() returns).
   * @typedef {Object} ConnectResult
   * @property {"oauth-broker:result"} type
   * @property {string | null} connection_id  the connection created or re-authorized (null on error)
   * @property {ConnectionStatus | string | null} status  "pending" until confirmed
   * @property {string | null} error  an OAuth error code such as "access_denied", else null
   * @property {string[]} [missing_scopes]  the requested scopes the user did not grant
   * @property {string} [confirmation]  single-use, 10 minutes: pass it to confirm(); a secret, never
   *   log, store or share it
   */

  /**
   * The connection as the broker returns it (GET /v1/connections/{id}).
   * @typedef {{id: string, status: ConnectionStatus | string} & Record<string, unknown>} Connection
   */

  /**
   * What connect() and completeRedirect() resolve with: the result without its (spent)
   * confirmation, `status` the confirmed connection's, and the confirmed connection itself (null
   * when the result is an error).
   * @typedef {Object} ConfirmedResult
   * @property {"oauth-broker:result"} type
   * @property {string | null} connection_id
   * @property {ConnectionStatus | string | null} status  "active" or "partial" once confirmed
   * @property {string | null} error
   * @property {string[]} [missing_scopes]
   * @property {Connection | null} connection
   */

  /**
   * The app's confirm step: asks its backend (as the signed-in user) to call
   * POST /v1/connect-sessions/confirm {confirmation}, or calls it with the user's JWT, and resolves
   * with the connection it answers.
   * @typedef {(confirmation: string, result: ConnectResult) => (Connection | Promise<Connection>)} ConfirmFunction
   */

  /**
   * @typedef {string | URL | Promise<string | URL> | (() => (string | URL | Promise<string | URL>))} AuthorizeUrlSource
   */

  /**
   * @typedef {Object} ConnectOptions
   * @property {AuthorizeUrlSource} authorizeUrl  the connect session's `authorize_url`, or a promise
   *   or function for it
   * @property {string} [brokerOrigin]  the broker's origin (scheme://host[:port]) that the result
   *   must come from; defaults to the origin of `authorizeUrl` when that is a string or URL
   * @property {"popup" | "redirect"} [mode]  default "popup"; must match the connect session's mode
   * @property {string} [popupFeatures]  window.open features; default: a centred 500x640 popup
   * @property {string} [popupName]  window.open target name; default "oauth-broker-connect"
   * @property {number} [timeoutMs]  popup mode: give up (and close the popup) after this long;
   *   default 10 minutes
   * @property {AbortSignal} [signal]  popup mode: abort (and close the popup)
   * @property {ConfirmFunction} [confirm]  popup mode: required; confirms the pending result as
   *   the signed-in user (redirect mode: pass it to completeRedirect() on the return_to page)
   */

  /** The error a connect() promise rejects with; `code` is a stable machine code. */
  class ConnectError extends Error {
    /**
     * @param {string} code  stable machine code (popup_blocked, popup_closed, timeout, ...)
     * @param {string} message  a sentence for people
     * @param {unknown} [cause]
     */
    constructor(code, message, cause) {
      super(message);
      this.name = "ConnectError";
      /** @type {string} */
      this.code = code;
      if (cause !== undefined) {
        /** @type {unknown} */
        this.cause = cause;
      }
    }
  }

  /**
   * @param {unknown} value
   * @returns {string}
   */
  function originOf(value) {
    var url;
    try {
      url = new URL(String(value));
    } catch (_err) {
      throw new ConnectError("invalid_options", "brokerOrigin is not a URL or origin: " + String(value));
    }
    if (url.protocol !== "https:" && url.protocol !== "http:") {
      throw new ConnectError("invalid_options", "brokerOrigin must be an http(s) origin");
    }
    return url.origin;
  }

  /**
   * An absolute http(s) URL (never javascript:, data: or a relative path) as a string.
   * @param {unknown} value
   * @returns {string}
   */
  function checkAuthorizeUrl(value) {
    var url;
    try {
      url = new URL(String(value));
    } catch (_err) {
      throw new ConnectError("invalid_authorize_url", "authorizeUrl is not an absolute URL");
    }
    if (url.protocol !== "https:" && url.protocol !== "http:") {
      throw new ConnectError("invalid_authorize_url", "authorizeUrl must be an http(s) URL");
    }
    return url.href;
  }

  /**
   * @param {AuthorizeUrlSource} source
   * @returns {Promise<string>}
   */
  function resolveUrl(source) {
    return new Promise(function (resolve) {
      resolve(typeof source === "function" ? source() : source);
    }).then(
      function (value) {
        return checkAuthorizeUrl(value);
      },
      function (err) {
        throw new ConnectError(
          "authorize_url_failed",
          "could not get the authorize URL: " + (err && err.message ? err.message : String(err)),
          err
        );
      }
    );
  }

  /**
   * A centred popup's window.open features.
   * @param {number} width
   * @param {number} height
   * @returns {string}
   */
  function centredFeatures(width, height) {
    var left = 0;
    var top = 0;
    try {
      var outerW = root.outerWidth || width;
      var outerH = root.outerHeight || height;
      left = Math.max(0, Math.round((root.screenX || 0) + (outerW - width) / 2));
      top = Math.max(0, Math.round((root.screenY || 0) + (outerH - height) / 2));
    } catch (_err) {
      /* keep 0, 0 */
    }
    return "popup=yes,width=" + width + ",height=" + height + ",left=" + left + ",top=" + top;
  }

  /**
   * The result fields, type-checked; anything else in the message is dropped.
   * @param {Record<string, unknown>} data
   * @returns {ConnectResult}
   */
  function normalizeResult(data) {
    /** @param {unknown} v */
    function str(v) {
      return typeof v === "string" && v !== "" ? v : null;
    }
    /** @type {ConnectResult} */
    var result = {
      type: RESULT_TYPE,
      connection_id: str(data.connection_id),
      status: str(data.status),
      error: str(data.error),
    };
    var missing = data.missing_scopes;
    if (Array.isArray(missing)) {
      result.missing_scopes = missing.filter(function (s) {
        return typeof s === "string";
      });
    } else if (typeof missing === "string" && missing !== "") {
      result.missing_scopes = missing.split(/[\s,]+/).filter(Boolean);
    }
    var confirmation = str(data.confirmation);
    if (confirmation !== null) result.confirmation = confirmation;
    return result;
  }

  /**
   * @param {unknown} confirm
   * @returns {ConnectError | null}
   */
  function checkConfirm(confirm) {
    if (typeof confirm === "function") return null;
    return new ConnectError(
      "invalid_options",
      "confirm is required: a function(confirmation) that asks your backend, as the signed-in user, " +
        "to call POST /v1/connect-sessions/confirm and resolves with the connection"
    );
  }

  /**
   * The confirm step shared by popup and redirect mode: an error result resolves as it is; a
   * pending result is confirmed with `confirm` and resolves with the confirmed connection.
   * @param {ConnectResult} result
   * @param {ConfirmFunction} confirm
   * @returns {Promise<ConfirmedResult>}
   */
  function confirmResult(result, confirm) {
    /** @type {ConfirmedResult} */
    var out = {
      type: RESULT_TYPE,
      connection_id: result.connection_id,
      status: result.status,
      error: result.error,
      connection: null,
    };
    if (result.missing_scopes) out.missing_scopes = result.missing_scopes;
    if (result.error) return Promise.resolve(out);
    var confirmation = result.confirmation;
    if (!confirmation) {
      return Promise.reject(
        new ConnectError("confirmation_failed", "the broker's result carries no confirmation, so it cannot be confirmed")
      );
    }
    /** @type {ConnectResult} */
    var withoutSecret = {
      type: RESULT_TYPE,
      connection_id: result.connection_id,
      status: result.status,
      error: result.error,
    };
    if (result.missing_scopes) withoutSecret.missing_scopes = result.missing_scopes;
    return new Promise(function (resolve) {
      resolve(confirm(confirmation, withoutSecret));
    }).then(
      function (value) {
        var connection = /** @type {Connection | null} */ (value && typeof value === "object" ? value : null);
        if (!connection || typeof connection.id !== "string" || typeof connection.status !== "string") {
          throw new ConnectError(
            "confirmation_failed",
            "confirm() must resolve with the confirmed connection (the broker's JSON, with id and status)"
          );
        }
        if (result.connection_id && connection.id !== result.connection_id) {
          throw new ConnectError(
            "confirmation_failed",
            "confirm() resolved with another connection than the result's " + result.connection_id
          );
        }
        out.connection = connection;
        out.connection_id = connection.id;
        out.status = connection.status;
        return out;
      },
      function (err) {
        if (err instanceof ConnectError) throw err;
        throw new ConnectError(
          "confirmation_failed",
          "the connection could not be confirmed: " + (err && err.message ? err.message : String(err)),
          err
        );
      }
    );
  }

  /**
   * Writes a short "please wait" note into the about:blank popup (same origin as the opener).
   * @param {Window} popup
   */
  function showWaiting(popup) {
    try {
      var doc = popup.document;
      doc.title = "Connecting…";
      if (doc.body) {
        doc.body.style.fontFamily = "system-ui, sans-serif";
        doc.body.style.padding = "2em";
        doc.body.textContent = "Connecting to the provider…";
      }
    } catch (_err) {
      /* not ours to write: fine */
    }
  }

  /**
   * Opens the broker's authorize URL and resolves with the confirmed result.
   *
   * Popup mode: call it synchronously from a click (or key) handler. Redirect mode: navigates
   * this window away; the returned promise resolves (with undefined) once the navigation has been
   * started, and completeRedirect() finishes the flow on the return_to page.
   *
   * @param {ConnectOptions} options
   * @returns {Promise<ConfirmedResult>}
   */
  function connect(options) {
    var opts = options || /** @type {ConnectOptions} */ ({});
    var mode = opts.mode || "popup";
    if (mode === "redirect") {
      return redirect(opts);
    }
    if (mode !== "popup") {
      return Promise.reject(new ConnectError("invalid_options", 'mode must be "popup" or "redirect"'));
    }
    if (opts.authorizeUrl === undefined || opts.authorizeUrl === null || opts.authorizeUrl === "") {
      return Promise.reject(new ConnectError("invalid_options", "authorizeUrl is required"));
    }
    var confirmError = checkConfirm(opts.confirm);
    if (confirmError) {
      return Promise.reject(confirmError);
    }
    var confirm = /** @type {ConfirmFunction} */ (opts.confirm);
    var direct = typeof opts.authorizeUrl === "string" || opts.authorizeUrl instanceof URL;
    var brokerOrigin;
    var firstUrl = "about:blank";
    try {
      if (direct) {
        firstUrl = checkAuthorizeUrl(opts.authorizeUrl);
      }
      if (opts.brokerOrigin) {
        brokerOrigin = originOf(opts.brokerOrigin);
      } else if (direct) {
        brokerOrigin = new URL(firstUrl).origin;
      } else {
        throw new ConnectError(
          "invalid_options",
          "brokerOrigin is required when authorizeUrl is a promise or function"
        );
      }
    } catch (err) {
      return Promise.reject(err);
    }
    var timeoutMs = typeof opts.timeoutMs === "number" && opts.timeoutMs > 0 ? opts.timeoutMs : DEFAULT_TIMEOUT_MS;
    var signal = opts.signal;
    if (signal && signal.aborted) {
      return Promise.reject(new ConnectError("aborted", "the connect flow was aborted"));
    }

    var popupName = opts.popupName || DEFAULT_POPUP_NAME;
    if (pending[popupName]) {
      pending[popupName](new ConnectError("superseded", "a newer connect() call took over the popup"));
    }
    // Synchronously, still inside the user's gesture: this is what popup blockers allow.
    var popup = root.open(firstUrl, popupName, opts.popupFeatures || centredFeatures(500, 640));
    if (!popup) {
      return Promise.reject(
        new ConnectError("popup_blocked", "the browser blocked the popup: call connect() directly from a click handler")
      );
    }

    /** @type {Promise<ConnectResult>} */
    var received = new Promise(function (resolve, reject) {
      var settled = false;
      /** @type {ReturnType<typeof setInterval> | undefined} */
      var pollTimer;
      /** @type {ReturnType<typeof setTimeout> | undefined} */
      var graceTimer;
      /** @type {ReturnType<typeof setTimeout> | undefined} */
      var deadline;

      function cleanup() {
        settled = true;
        if (pending[popupName] === fail) delete pending[popupName];
        root.removeEventListener("message", onMessage);
        if (pollTimer !== undefined) clearInterval(pollTimer);
        if (graceTimer !== undefined) clearTimeout(graceTimer);
        if (deadline !== undefined) clearTimeout(deadline);
        if (signal) signal.removeEventListener("abort", onAbort);
      }

      function closePopup() {
        try {
          if (!popup.closed) popup.close();
        } catch (_err) {
          /* already gone */
        }
      }

      /** @param {ConnectError} err */
      function fail(err) {
        if (settled) return;
        cleanup();
        if (err.code !== "superseded") closePopup();
        reject(err);
      }

      /** @param {MessageEvent} event */
      function onMessage(event) {
        if (settled) return;
        if (event.origin !== brokerOrigin) return;
        if (event.source !== popup) return;
        var data = event.data;
        if (!data || typeof data !== "object" || data.type !== RESULT_TYPE) return;
        cleanup();
        closePopup();
        resolve(normalizeResult(data));
      }

      function onAbort() {
        fail(new ConnectError("aborted", "the connect flow was aborted"));
      }

      function checkClosed() {
        if (settled || graceTimer !== undefined) return;
        var closed;
        try {
          closed = popup.closed;
        } catch (_err) {
          closed = true;
        }
        if (closed) {
          // A result posted just before the popup closed itself may still be queued.
          graceTimer = setTimeout(function () {
            fail(new ConnectError("popup_closed", "the popup was closed before the connection finished"));
          }, CLOSED_GRACE_MS);
        }
      }

      pending[popupName] = fail;
      root.addEventListener("message", onMessage);
      pollTimer = setInterval(checkClosed, CLOSED_POLL_MS);
      deadline = setTimeout(function () {
        fail(new ConnectError("timeout", "no result from the broker within " + Math.round(timeoutMs / 1000) + " s"));
      }, timeoutMs);
      if (signal) signal.addEventListener("abort", onAbort);

      if (!direct) {
        showWaiting(popup);
        resolveUrl(opts.authorizeUrl).then(
          function (url) {
            if (settled) return;
            try {
              popup.location.replace(url);
            } catch (err) {
              fail(new ConnectError("popup_closed", "the popup went away before the authorize URL arrived", err));
            }
          },
          function (err) {
            fail(err instanceof ConnectError ? err : new ConnectError("authorize_url_failed", String(err), err));
          }
        );
      }
    });
    return received.then(function (result) {
      return confirmResult(result, confirm);
    });
  }

  /**
   * Redirect mode: navigate this window to the authorize URL.
   * @param {ConnectOptions} opts
   * @returns {Promise<any>}
   */
  function redirect(opts) {
    if (opts.authorizeUrl === undefined || opts.authorizeUrl === null || opts.authorizeUrl === "") {
      return Promise.reject(new ConnectError("invalid_options", "authorizeUrl is required"));
    }
    return resolveUrl(opts.authorizeUrl).then(function (url) {
      root.location.assign(url);
      return undefined;
    });
  }

  /**
   * Redirect mode: the result the broker appended to return_to (with its `confirmation`), or null
   * when the URL has none. Reading the current location (no `href`) also removes the result from
   * the address bar (history.replaceState), so that the confirmation is not left in the history
   * or in a link the user copies.
   * @param {string | URL} [href]  default: the current location
   * @returns {ConnectResult | null}
   */
  function readRedirectResult(href) {
    var current = href === undefined;
    var url = new URL(String(current ? root.location.href : href));
    var params = url.searchParams;
    var found = RESULT_PARAMS.some(function (name) {
      return params.has(name);
    });
    if (!found) return null;
    /** @type {Record<string, unknown>} */
    var data = {};
    RESULT_PARAMS.forEach(function (name) {
      if (params.has(name)) data[name] = params.get(name);
    });
    if (current) clearRedirectResult();
    return normalizeResult(data);
  }

  /**
   * Redirect mode: removes the result's query parameters (confirmation included) from the
   * address bar (history.replaceState). readRedirectResult() and completeRedirect() call it.
   */
  function clearRedirectResult() {
    var url = new URL(root.location.href);
    var found = false;
    RESULT_PARAMS.forEach(function (name) {
      if (url.searchParams.has(name)) found = true;
      url.searchParams.delete(name);
    });
    if (found) root.history.replaceState(root.history.state, "", url.pathname + url.search + url.hash);
  }

  /**
   * @typedef {Object} CompleteRedirectOptions
   * @property {ConfirmFunction} confirm  as connect()'s
   * @property {string | URL} [href]  default: the current location (then the result is removed
   *   from the address bar)
   */

  /**
   * Redirect mode, on the return_to page: reads the broker's result, removes it from the address
   * bar and confirms it like connect() does. Resolves with null when the URL carries no result.
   * @param {CompleteRedirectOptions} options
   * @returns {Promise<ConfirmedResult | null>}
   */
  function completeRedirect(options) {
    var opts = options || /** @type {CompleteRedirectOptions} */ ({});
    var confirmError = checkConfirm(opts.confirm);
    var result;
    try {
      // read (and strip) first, even when the options are wrong: the confirmation must not stay
      result = readRedirectResult(opts.href);
    } catch (err) {
      return Promise.reject(new ConnectError("invalid_options", "href is not a URL", err));
    }
    if (confirmError) return Promise.reject(confirmError);
    if (!result) return Promise.resolve(null);
    return confirmResult(result, opts.confirm);
  }

  var api = Object.freeze({
    connect: connect,
    readRedirectResult: readRedirectResult,
    clearRedirectResult: clearRedirectResult,
    completeRedirect: completeRedirect,
    ConnectError: ConnectError,
    RESULT_TYPE: RESULT_TYPE,
  });
  root.OAuthBroker = api;
})(/** @type {any} */ (globalThis));
