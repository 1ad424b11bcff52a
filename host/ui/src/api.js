// The daemon's HTTP API, as the console uses it. The token is passed in by
// the caller on every request: it lives in React state only (never in
// localStorage, sessionStorage or a cookie).

/** An API error with the daemon's contract body. */
export class ApiError extends Error {
  constructor(status, body) {
    const e = body && body.error;
    super(e ? `${e.code}: ${e.message}` : `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

async function call(token, method, path, { body, headers } = {}) {
  const h = { Accept: "application/json", ...(headers || {}) };
  if (token) h.Authorization = `Bearer ${token}`;
  if (body !== undefined) h["Content-Type"] = "application/json";
  const res = await fetch(path, {
    method,
    headers: h,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "omit",
    cache: "no-store",
  });
  const text = await res.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = { error: { code: "bad_response", message: text.slice(0, 200) } };
  }
  if (!res.ok) throw new ApiError(res.status, data);
  return { data, headers: res.headers };
}

export const api = {
  accounts: (token) => call(token, "GET", "/v1/accounts").then((r) => r.data.accounts),
  schema: (path) => call(null, "GET", `/v1/schemas/${path}`).then((r) => r.data),
  run: (token, account, operation, doc, idempotencyKey) =>
    call(token, "POST", `/v1/accounts/${encodeURIComponent(account)}/operations/${operation}`, {
      body: doc,
      headers: { "Idempotency-Key": idempotencyKey },
    }).then((r) => ({ envelope: r.data, replayed: r.headers.get("idempotent-replayed") === "true" })),
  operations: (token, params) => {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) if (v) q.set(k, v);
    return call(token, "GET", `/v1/operations?${q}`).then((r) => r.data);
  },
  operation: (token, id) => call(token, "GET", `/v1/operations/${encodeURIComponent(id)}`).then((r) => r.data),
  order: (token, account, orderRef) =>
    call(token, "GET", `/v1/accounts/${encodeURIComponent(account)}/orders/${encodeURIComponent(orderRef)}`).then(
      (r) => r.data.order,
    ),
  reconcile: (token, id) =>
    call(token, "POST", `/v1/operations/${encodeURIComponent(id)}/reconcile`).then((r) => r.data),
};

/** Minor units as major units with two decimals, exactly (no floats). */
export function major(minor) {
  if (typeof minor !== "number" || !Number.isSafeInteger(minor)) return String(minor);
  const neg = minor < 0;
  const s = String(Math.abs(minor)).padStart(3, "0");
  const whole = s.slice(0, -2).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return `${neg ? "-" : ""}${whole}.${s.slice(-2)}`;
}
