// The gateway's API from the browser; the operator's bearer token lives in sessionStorage.

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

async function request(path, options = {}) {
  const response = await fetch(path, { credentials: "same-origin", ...options });
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
  const headers = { Accept: "application/json", Authorization: `Bearer ${token()}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await request(path, {
    method: "POST",
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return response.json();
}
