// The gateway's API from the browser. Reads need a token too (unless the server sets
// public_read): the token lives in sessionStorage, so it stays in this tab and is gone when
// the tab closes; localStorage would keep it on disk for every later visit and every tab.

const TOKEN_KEY = "shipline.api-token";

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export function token() {
  return sessionStorage.getItem(TOKEN_KEY) ?? "";
}

export function signIn(value) {
  sessionStorage.setItem(TOKEN_KEY, value.trim());
}

export function signOut() {
  sessionStorage.removeItem(TOKEN_KEY);
}

function authorized(headers = {}) {
  return token() ? { ...headers, Authorization: `Bearer ${token()}` } : headers;
}

async function request(path, options = {}) {
  const headers = authorized(options.headers);
  const response = await fetch(path, { credentials: "same-origin", ...options, headers });
  if (!response.ok) throw new ApiError(response.status, await reason(response));
  return response;
}

async function reason(response) {
  try {
    const body = await response.json();
    return body.detail ?? body.error?.reason ?? response.statusText;
  } catch {
    return `${response.status} ${response.statusText}`;
  }
}

export async function getJSON(path) {
  return (await request(path, { headers: { Accept: "application/json" } })).json();
}

// The text, or null when the server has none (404).
export async function getText(path) {
  try {
    return await (await request(path)).text();
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) return null;
    throw error;
  }
}

export async function post(path, body) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await request(path, {
    method: "POST",
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return response.json();
}

// The URL an EventSource opens `path` with: EventSource cannot send the token, so the token
// buys a ticket worth one minute for that one stream (never the token itself in the URL).
export async function streamUrl(path) {
  const ticket = await post("/api/v1/stream-tickets", { path });
  return ticket.url;
}

export function isSignInNeeded(error) {
  return error instanceof ApiError && (error.status === 401 || error.status === 403);
}
