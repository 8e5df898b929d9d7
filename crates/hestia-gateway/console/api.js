// The CUI's JSON API (/cui/v1, docs/cui.md) as the console uses it. The bearer token lives in
// sessionStorage (gone when the tab closes) and goes out as `Authorization: Bearer`.

const KEY = "hestia.session";

export class CuiError extends Error {
  constructor(status, body) {
    super(body?.message ?? `HTTP ${status}`);
    this.status = status;
    this.code = body?.code ?? "internal";
  }
}

export function session() {
  try {
    return JSON.parse(sessionStorage.getItem(KEY) ?? "null");
  } catch {
    return null;
  }
}

export function forget() {
  sessionStorage.removeItem(KEY);
}

/** The signed-in user's path prefix, `/cui/v1/users/{u}`. */
export function userPath() {
  return `/cui/v1/users/${encodeURIComponent(session()?.userId ?? "")}`;
}

export function devicePath(deviceId) {
  return `${userPath()}/devices/${encodeURIComponent(deviceId)}`;
}

/** `credentials` is "omit" but for the one call whose answer sets a cookie (linking). */
export async function request(method, path, body, credentials = "omit") {
  const headers = { Accept: "application/json" };
  const token = session()?.token;
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials,
  });
  const text = await response.text();
  const json = text ? JSON.parse(text) : null;
  if (!response.ok) throw new CuiError(response.status, json);
  return json;
}

export async function signIn(username, password) {
  const answer = await request("POST", "/cui/v1/sign-in", { username, password });
  sessionStorage.setItem(KEY, JSON.stringify({ token: answer.token, userId: answer.userId }));
  return answer;
}

export const devices = () => request("GET", `${userPath()}/devices`);
export const getProperty = (d, p) => request("GET", `${devicePath(d)}/properties/${p}`);
/** `confirmed`: the person confirmed a property that needs confirmation (the gateway refuses
 * such an update without it, `confirmation_required`). */
export const setProperty = (d, p, value, confirmed = false) =>
  request("PUT", `${devicePath(d)}/properties/${p}`, confirmed ? { value, confirmed } : { value });
export const shares = (d) => request("GET", `${devicePath(d)}/shares`);
export const share = (d, user, right) =>
  request("PUT", `${devicePath(d)}/shares/${encodeURIComponent(user)}`, { right });
export const unshare = (d, user) =>
  request("DELETE", `${devicePath(d)}/shares/${encodeURIComponent(user)}`);
export const ask = (deviceId, right) =>
  request("POST", `${userPath()}/device-requests`, { deviceId, right });
export const resetCode = (d) => request("POST", `${devicePath(d)}/verification-code`);
export const peers = () => request("GET", "/cui/v1/peers");
export const federations = () => request("GET", `${userPath()}/federations`);
// Same-origin credentials: the answer's HttpOnly cookie binds the return to this browser.
export const startLink = (peer) =>
  request("POST", `${userPath()}/federations`, { peer }, "same-origin");
export const unlink = (id) =>
  request("DELETE", `${userPath()}/federations/${encodeURIComponent(id)}`);
