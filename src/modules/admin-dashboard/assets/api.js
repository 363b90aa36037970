// The dashboard's side of the API. The access token lives in this module only (never in
// storage), so closing the tab ends the session here.

export const API = '/api/v1';

class ApiError extends Error {
  constructor(status, body) {
    super(body?.message ?? `The server answered ${status}`);
    this.status = status;
    this.code = body?.code;
    /** What was wrong with which field ({ field, message }), on a 400. */
    this.details = Array.isArray(body?.details) ? body.details : [];
  }
}

let token = null;
let sessionExpired = () => {};

/** What the page does when the server no longer accepts the token (a 401 while signed in). */
export function onSessionExpired(callback) {
  sessionExpired = callback;
}

export const signedIn = () => token !== null;

export function startSession(accessToken) {
  token = accessToken;
}

/** Forgets the token and ends its session on the server. */
export function endSession() {
  const ending = token;
  token = null;
  if (ending) {
    fetch(`${API}/auth/logout`, { method: 'POST', headers: { authorization: `Bearer ${ending}` } }).catch(() => {});
  }
}

/** The request with the token when signed in; a status not in `accept` and not 2xx throws ApiError. */
async function send(path, { method = 'GET', body, accept = [], type = 'application/json' } = {}) {
  const headers = { accept: type };
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: 'no-store',
    credentials: 'omit',
  });
  if (response.ok || accept.includes(response.status)) return response;
  const payload = await response.json().catch(() => null);
  if (response.status === 401 && token) sessionExpired();
  throw new ApiError(response.status, payload);
}

/** JSON in and out, with the token when signed in; a status not in `accept` and not 2xx throws ApiError. */
export async function api(path, options = {}) {
  const response = await send(path, options);
  return response.json().catch(() => null);
}

/**
 * A file the API answers with (a CSV export), fetched with the token: a plain link could not send
 * it, the token never being in a cookie. Its name is the one the server gives in content-disposition.
 */
export async function download(path, type) {
  const response = await send(path, { type });
  const name = /filename="([^"]+)"/.exec(response.headers.get('content-disposition') ?? '')?.[1];
  return { blob: await response.blob(), name };
}
