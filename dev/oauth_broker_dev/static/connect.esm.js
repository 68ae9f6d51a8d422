/*
 * connect.js as an ES module with named exports:
 *   import { connect, completeRedirect } from "./connect.esm.js";
 * connect.js itself has no import/export statements, so that it also works as a classic script.
 */
import "./connect.js";

/** @type {any} */
const api = /** @type {any} */ (globalThis).OAuthBroker;

/** Opens the authorize URL (popup or redirect) and resolves with the confirmed result: see connect.js. */
export const connect = api.connect;
/** Redirect mode, on the return_to page: reads, strips and confirms the result. */
export const completeRedirect = api.completeRedirect;
export const readRedirectResult = api.readRedirectResult;
export const clearRedirectResult = api.clearRedirectResult;
export const ConnectError = api.ConnectError;
export const RESULT_TYPE = api.RESULT_TYPE;
export default api;
