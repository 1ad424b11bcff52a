// The daemon's HTTP API, as the console uses it. `auth` is passed in by the
// caller on every request: a bearer token (a string, kept in React state
// only: never in localStorage, sessionStorage or a cookie), or a signed-in
// person's session `{ csrf }` (the session itself is an HttpOnly cookie the
// page cannot read; its CSRF token goes with every request that changes
// something).

/** An API error with the daemon's contract body. */
export class ApiError extends Error {
  constructor(status, body) {
    const e = body && body.error;
    super(e ? `${e.code}: ${e.message}` : `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

async function call(auth, method, path, { body, headers } = {}) {
  const h = { Accept: "application/json", ...(headers || {}) };
  const session = auth && typeof auth === "object";
  if (typeof auth === "string" && auth) h.Authorization = `Bearer ${auth}`;
  if (session && auth.csrf && method !== "GET") h["X-CSRF-Token"] = auth.csrf;
  if (body !== undefined) h["Content-Type"] = "application/json";
  const res = await fetch(path, {
    method,
    headers: h,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: session ? "same-origin" : "omit",
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
  methods: () => call({}, "GET", "/v1/auth/methods").then((r) => r.data),
  login: (username, password) =>
    call({}, "POST", "/v1/auth/login", { body: { username, password } }).then((r) => r.data),
  logout: (auth) => call(auth, "POST", "/v1/auth/logout"),
  me: (auth) => call(auth, "GET", "/v1/me").then((r) => r.data),
  accounts: (token) => call(token, "GET", "/v1/accounts").then((r) => r.data.accounts),
  schema: (path) => call(null, "GET", `/v1/schemas/${path}`).then((r) => r.data),
  run: (token, account, operation, doc, idempotencyKey) =>
    call(token, "POST", `/v1/accounts/${encodeURIComponent(account)}/operations/${operation}`, {
      body: doc,
      headers: { "Idempotency-Key": idempotencyKey },
    }).then((r) => ({ envelope: r.data, replayed: r.headers.get("idempotent-replayed") === "true" })),
  operations: (token, params) => call(token, "GET", `/v1/operations?${query(params)}`).then((r) => r.data),
  operation: (token, id) => call(token, "GET", `/v1/operations/${encodeURIComponent(id)}`).then((r) => r.data),
  order: (token, account, orderRef) =>
    call(token, "GET", `/v1/accounts/${encodeURIComponent(account)}/orders/${encodeURIComponent(orderRef)}`).then(
      (r) => r.data.order,
    ),
  approvals: (token) => call(token, "GET", "/v1/approvals").then((r) => r.data.approvals),
  decide: (token, id, decision) =>
    call(token, "POST", `/v1/approvals/${encodeURIComponent(id)}/${decision}`, { body: {} }).then((r) => r.data),
  reconcile: (token, id) =>
    call(token, "POST", `/v1/operations/${encodeURIComponent(id)}/reconcile`).then((r) => r.data),
  resolve: (token, id, status, evidence) =>
    call(token, "POST", `/v1/operations/${encodeURIComponent(id)}/resolve`, { body: { status, evidence } }).then(
      (r) => r.data,
    ),
  /** Uploads a batch file for its check (nothing is sent). */
  uploadBatch: async (token, params, file) => {
    const h = { Accept: "application/json" };
    const session = token && typeof token === "object";
    if (typeof token === "string" && token) h.Authorization = `Bearer ${token}`;
    if (session && token.csrf) h["X-CSRF-Token"] = token.csrf;
    h["Content-Type"] = /\.jsonl$|\.ndjson$/i.test(file.name) ? "application/x-ndjson" : "text/csv";
    const res = await fetch(`/v1/batches?${query(params)}`, {
      method: "POST",
      headers: h,
      body: file,
      credentials: session ? "same-origin" : "omit",
      cache: "no-store",
    });
    const data = await res.json().catch(() => null);
    if (!res.ok) throw new ApiError(res.status, data);
    return data;
  },
  batch: (token, id) => call(token, "GET", `/v1/batches/${encodeURIComponent(id)}`).then((r) => r.data),
  startBatch: (token, id) => call(token, "POST", `/v1/batches/${encodeURIComponent(id)}/start`).then((r) => r.data),
  stopBatch: (token, id) => call(token, "POST", `/v1/batches/${encodeURIComponent(id)}/stop`).then((r) => r.data),
  totals: (token, params) => call(token, "GET", `/v1/totals?${query(params)}`).then((r) => r.data),
  /** The filtered operations as a CSV file: its name and its bytes. */
  exportCsv: async (token, params) => {
    const h = {};
    const session = token && typeof token === "object";
    if (typeof token === "string" && token) h.Authorization = `Bearer ${token}`;
    const res = await fetch(`/v1/operations.csv?${query(params)}`, {
      headers: h,
      credentials: session ? "same-origin" : "omit",
      cache: "no-store",
    });
    if (!res.ok) {
      const text = await res.text();
      let data = null;
      try {
        data = JSON.parse(text);
      } catch {
        data = null;
      }
      throw new ApiError(res.status, data);
    }
    const name = /filename="([^"]+)"/.exec(res.headers.get("content-disposition") || "")?.[1] || "payops-operations.csv";
    return { name, blob: await res.blob() };
  },
};

/** Query string of the non-empty `params`. */
function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") q.set(k, v);
  return q;
}

/** Minor units as major units with `exp` decimals (2: kuruş), exactly
 *  (no floats). */
export function major(minor, exp = 2) {
  if (typeof minor !== "number" || !Number.isSafeInteger(minor)) return String(minor);
  const neg = minor < 0;
  const s = String(Math.abs(minor)).padStart(exp + 1, "0");
  const whole = (exp ? s.slice(0, -exp) : s).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return `${neg ? "-" : ""}${whole}${exp ? "." + s.slice(-exp) : ""}`;
}
