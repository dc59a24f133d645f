// The JSON API, as the browser app uses it. The session travels in the HttpOnly
// cookie that login sets, so every call (and every tile) is same-origin with
// credentials; the token in the login answer is for non-browser clients.

// ApiError carries the server's {"error":{"code","message","field"}} answer.
export class ApiError extends Error {
  constructor(status, body) {
    const e = (body && body.error) || {};
    super(e.message || `HTTP ${status}`);
    this.status = status;
    this.code = e.code || '';
    this.field = e.field || '';
  }
}

// request sends a JSON request and returns the decoded answer (null for 204).
export async function request(method, path, body) {
  const init = {method, credentials: 'same-origin', headers: {Accept: 'application/json'}};
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const res = await fetch(path, init);
  if (res.status === 204) return null;
  const data = await res.json().catch(() => null);
  if (!res.ok) throw new ApiError(res.status, data);
  return data;
}

export const login = (name, password) => request('POST', '/api/v1/login', {name, password});
export const logout = () => request('POST', '/api/v1/logout');
export const me = () => request('GET', '/api/v1/me');
