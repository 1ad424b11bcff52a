// The payops operator console: sign in (a local user, the identity
// provider, or a token), run an operation from its exported request schema,
// find operations (search, filters kept in the URL, totals, CSV export),
// open an order's ledger, reconcile or resolve the unresolved ones, decide
// approvals. What the caller's role may not do is not offered (the server
// refuses it anyway). Every time is shown in this browser's zone.
import React, { useEffect, useMemo, useState } from "react";
import Form from "@rjsf/core";
import { api, major } from "./api.js";
import { cfworkerValidator } from "./validator.js";

const STATES = ["in_flight", "succeeded", "pending", "failed", "unknown"];
const UNRESOLVED = new Set(["pending", "unknown", "in_flight"]);

/** A uiSchema for `schema`: secrets drawn as password fields, descriptions
 *  with `code` rendered, recursively through properties and items. */
export function uiSchemaFor(schema, root = schema, depth = 0, name = "") {
  const ui = {};
  if (!schema || typeof schema !== "object" || depth > 8) return ui;
  let s = schema;
  if (s.$ref && s.$ref.startsWith("#/$defs/")) s = { ...(root.$defs || {})[s.$ref.slice(8)], ...s };
  if (s.writeOnly) ui["ui:widget"] = "password";
  if (s.description) ui["ui:enableMarkdownInDescription"] = true;
  // Money (an integer `…amount` in minor units) is typed in lira; the
  // document still carries minor units, as its schema says.
  if (s.type === "integer" && /amount$/.test(name)) {
    ui["ui:widget"] = "money";
    if (s.title) ui["ui:title"] = s.title.replace(/\s*\((kuruş|minor units)\)/, "") + " (TL)";
  }
  for (const [k, p] of Object.entries(s.properties || {})) {
    if (p && typeof p === "object") ui[k] = uiSchemaFor(p, root, depth + 1, k);
  }
  if (s.items && typeof s.items === "object") ui.items = uiSchemaFor(s.items, root, depth + 1);
  return ui;
}

/** Digits after the decimal mark, per currency (ISO 4217 exponent). */
const EXPONENT = { JPY: 0, KRW: 0, KWD: 3, BHD: 3, JOD: 3, OMR: 3, TND: 3 };

/** `text` in major units ("12,50", "12.50", "1250") as minor units, or
 *  why not: at most `exp` decimals, digits and one decimal mark only. */
export function parseMajor(text, exp = 2) {
  const t = String(text).trim().replace(/\s/g, "");
  const m = /^(\d+)(?:[.,](\d*))?$/.exec(t);
  if (!m) return { error: "digits and one decimal mark (12,50 or 12.50)" };
  const frac = m[2] || "";
  if (frac.length > exp) return { error: `at most ${exp} decimal${exp === 1 ? "" : "s"}: ${t} is not a whole number of kuruş` };
  const minor = Number(m[1] + frac.padEnd(exp, "0"));
  if (!Number.isSafeInteger(minor)) return { error: "too large" };
  return { minor };
}

/** Minor units as they are typed back ("12,50"). */
function typedMajor(minor, exp = 2) {
  if (typeof minor !== "number") return "";
  if (exp === 0) return String(minor);
  const s = String(minor).padStart(exp + 1, "0");
  return `${s.slice(0, -exp)},${s.slice(-exp)}`;
}

/** The money widget: lira typed (12,50 or 12.50), minor units written. A
 *  text that is not an amount is passed on as text, so the form's schema
 *  refuses it (an optional amount never silently becomes "the whole
 *  order"). */
function MoneyWidget({ id, value, onChange, onBlur, onFocus, disabled, readonly, formContext }) {
  const exp = EXPONENT[formContext?.currency] ?? 2;
  const [text, setText] = useState(typedMajor(value, exp));
  const [problem, setProblem] = useState(null);
  useEffect(() => {
    // Reset from outside (a new form): show the value as it now is.
    if (typeof value !== "string" && parseMajor(text, exp).minor !== value) setText(typedMajor(value, exp));
  }, [value]);
  const change = (t) => {
    setText(t);
    if (t.trim() === "") {
      setProblem(null);
      onChange(undefined);
      return;
    }
    const r = parseMajor(t, exp);
    setProblem(r.error || null);
    onChange(r.error ? t : r.minor);
  };
  return (
    <span className="money">
      <input
        id={id}
        className="form-control"
        inputMode="decimal"
        autoComplete="off"
        value={text}
        disabled={disabled || readonly}
        onChange={(e) => change(e.target.value)}
        onBlur={() => onBlur(id, value)}
        onFocus={() => onFocus(id, value)}
      />
      {typeof value === "number" && <span className="minor"> = {value} minor units</span>}
      {problem && (
        <span className="field-error money-error" role="alert">
          {" "}
          {problem}
        </span>
      )}
    </span>
  );
}

/** A button's action: `busy` while it runs, `error` when it failed
 *  (cleared when it starts again). `run(f)` gives what `f` gave. */
function useAction(initialError = null) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(initialError);
  const run = async (f) => {
    setBusy(true);
    setError(null);
    try {
      return await f();
    } catch (e) {
      setError(e);
      return undefined;
    } finally {
      setBusy(false);
    }
  };
  return { busy, error, setError, run };
}

/** Minor units in major units with their currency (TL for lira). */
function money(minor, currency = "TRY") {
  const c = currency || "TRY";
  return `${major(minor, EXPONENT[c] ?? 2)} ${c === "TRY" ? "TL" : c}`;
}

/** The operator's zone: this browser's. Every time is shown in it. */
const ZONE = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
const CLOCK = new Intl.DateTimeFormat("en-GB", {
  timeZone: ZONE,
  year: "numeric",
  month: "2-digit",
  day: "2-digit",
  hour: "2-digit",
  minute: "2-digit",
  second: "2-digit",
  hourCycle: "h23",
});

/** An RFC 3339 time as `YYYY-MM-DD HH:MM:SS` in the operator's zone. */
export function when(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  const p = Object.fromEntries(CLOCK.formatToParts(d).map((x) => [x.type, x.value]));
  return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}:${p.second}`;
}

/** This browser's offset from UTC now (`+03:00`): the totals' days. */
function utcOffset() {
  const m = -new Date().getTimezoneOffset();
  const a = Math.abs(m);
  return `${m < 0 ? "-" : "+"}${String(Math.floor(a / 60)).padStart(2, "0")}:${String(a % 60).padStart(2, "0")}`;
}

/** The view in the URL's fragment: `#/VIEW/ARG…?PARAMS` (a view can be
 *  saved and shared: its filters are in it). */
function parseHash() {
  const h = window.location.hash.replace(/^#\/?/, "");
  const [path, qs] = h.split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  return { view: parts[0] || "", args: parts.slice(1), params: Object.fromEntries(new URLSearchParams(qs || "")) };
}

/** Goes to a view (a new history entry). */
function go(view, args = [], params = {}) {
  const q = new URLSearchParams(
    Object.entries(params).filter(([, v]) => v !== undefined && v !== null && v !== ""),
  ).toString();
  const h = `#/${[view, ...args.map(encodeURIComponent)].join("/")}${q ? `?${q}` : ""}`;
  if (window.location.hash !== h) window.location.hash = h;
}

function Status({ value }) {
  const mark = UNRESOLVED.has(value) ? " needs attention" : "";
  return (
    <span className={`status status-${value}`} title={mark ? "not settled: reconcile or resolve" : ""}>
      {value}
      {mark && <span className="attention" aria-label="needs attention"> !</span>}
    </span>
  );
}

function ErrorBox({ error }) {
  if (!error) return null;
  const details = error.body?.error?.details || [];
  // A refusal: payops refused it before anything was sent to the provider
  // (not a failed operation); its idempotency key stays free.
  const reason = error.body?.error?.reason;
  const refusalId = error.body?.error?.refusal_id;
  return (
    <div className="error" role="alert">
      <strong>{error.message}</strong>
      {reason && (
        <p className="refusal">
          Refused before sending ({reason}): nothing reached the provider and no
          operation was recorded; the same request can be sent again once this is fixed.
          {refusalId && <> Audit record <code>{refusalId}</code>.</>}
        </p>
      )}
      {details.length > 0 && (
        <ul>
          {details.map((d, i) => (
            <li key={i}>
              <code>{d.field || d.path || ""}</code> {d.message || JSON.stringify(d)}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

/** Signs in with a bearer token, or as a person whose session is a cookie
 *  (`auth` is then `{ csrf }`); gives the caller's view and its accounts. */
async function open(auth) {
  let me = await api.me(auth);
  if (me.kind === "person") auth = { csrf: me.csrf_token };
  const accounts = await api.accounts(auth);
  return { auth, me, accounts };
}

function SignIn({ onSignedIn, methods, initialError }) {
  const [token, setToken] = useState("");
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState(initialError ? { message: initialError } : null);
  const [busy, setBusy] = useState(false);
  const attempt = async (e, how) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      if (how === "local") {
        await api.login(username.trim(), password);
        setPassword("");
        onSignedIn(await open({}));
      } else {
        onSignedIn(await open(token.trim()));
      }
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <div className="card signin">
      <h2>Sign in</h2>
      {methods?.oidc && (
        <p>
          <a className="button" data-testid="oidc-signin" href="/v1/auth/oidc/start?return_to=/ui/">
            {methods.oidc.label}
          </a>
        </p>
      )}
      {methods?.local && (
        <form onSubmit={(e) => attempt(e, "local")} data-testid="local-signin">
          <label htmlFor="username">User name</label>
          <input id="username" autoComplete="username" value={username} onChange={(e) => setUsername(e.target.value)} />
          <label htmlFor="password">Password</label>
          <input
            id="password"
            type="password"
            autoComplete="current-password"
            value={password}
            onChange={(e) => setPassword(e.target.value)}
          />
          <button type="submit" disabled={busy || !username.trim() || !password}>
            Sign in
          </button>
        </form>
      )}
      <details open={!methods?.local && !methods?.oidc}>
        <summary>With a bearer token</summary>
        <form onSubmit={(e) => attempt(e, "token")}>
          <p>
            A bearer token from <code>[[tokens]]</code> (<code>payops token new</code>), or the sandbox's printed token. It
            is kept in this page's memory only: reloading the page signs you out.
          </p>
          <label htmlFor="token">Token</label>
          <input id="token" type="password" autoComplete="off" value={token} onChange={(e) => setToken(e.target.value)} />
          <button type="submit" disabled={busy || !token.trim()}>
            Sign in with the token
          </button>
        </form>
      </details>
      <ErrorBox error={error} />
    </div>
  );
}

/** What a money operation will do, in words, before it is sent. */
function Confirm({ account, operation, doc, onSend, onBack, busy }) {
  const amount = typeof doc.amount === "number" ? money(doc.amount, doc.currency) : "the whole order";
  const movesMoney = ["refund", "cancel", "return", "sub_merchant_adjust"].includes(operation);
  return (
    <div className="card confirm" data-testid="confirm">
      <h2>Confirm {operation.replace(/_/g, " ")}</h2>
      <dl>
        <dt>Account</dt>
        <dd data-testid="confirm-account">
          {account.name} ({account.provider})
        </dd>
        {doc.order_ref !== undefined && (
          <>
            <dt>Order</dt>
            <dd>{doc.order_ref}</dd>
          </>
        )}
        {movesMoney && (
          <>
            <dt>Amount</dt>
            <dd data-testid="confirm-amount">
              {amount}
              {typeof doc.amount === "number" && <span className="minor"> ({doc.amount} minor units)</span>}
            </dd>
          </>
        )}
      </dl>
      {operation === "return" && (
        <p data-testid="confirm-rule">
          The provider's rule chooses a cancel or a refund after reading the payment (its schema's description says
          how); the outcome names what it became.
        </p>
      )}
      {movesMoney && <p className="warn">This moves money. Check the account and the amount.</p>}
      <button onClick={onSend} disabled={busy}>
        Send {operation.replace(/_/g, " ")}
      </button>{" "}
      <button className="secondary" onClick={onBack} disabled={busy}>
        Back to the form
      </button>
    </div>
  );
}

function Envelope({ envelope, replayed }) {
  // Above an approval threshold: nothing was sent; it waits.
  if (envelope.approval) return <Waiting approval={envelope.approval} replayed={replayed} />;
  return (
    <div className="card" data-testid="envelope">
      <h2>
        Outcome: <Status value={envelope.status} />
      </h2>
      {replayed && <p>The stored answer of an earlier request with this idempotency key (nothing was sent again).</p>}
      <dl>
        <dt>Operation</dt>
        <dd>
          <code>{envelope.operation_id}</code>
        </dd>
        {envelope.details?.became && (
          <>
            <dt>Became</dt>
            <dd data-testid="became">
              {envelope.details.became}
              {envelope.details.attempts?.length > 1 && ` (after ${envelope.details.attempts[0].operation} declined)`}
            </dd>
          </>
        )}
        {envelope.reason && (
          <>
            <dt>Reason</dt>
            <dd>{envelope.reason}</dd>
          </>
        )}
        {envelope.provider_message && (
          <>
            <dt>Provider says</dt>
            <dd>
              {envelope.provider_code} {envelope.provider_message}
            </dd>
          </>
        )}
      </dl>
      <details>
        <summary>Envelope</summary>
        <pre>{JSON.stringify(envelope, null, 2)}</pre>
      </details>
    </div>
  );
}

/** A request waiting for a second person (nothing sent). */
function Waiting({ approval, replayed }) {
  return (
    <div className="card" data-testid="waiting">
      <h2>
        Awaiting approval: <span className="status status-pending">{approval.status}</span>
      </h2>
      <p>
        Nothing was sent. {approval.why}. Someone else with the approver role on {approval.account} decides it in
        Approvals; approved, it is sent once.
        {replayed && " (The same request was asked for before with this key.)"}
      </p>
      <dl>
        <dt>Approval</dt>
        <dd>
          <code data-testid="approval-id">{approval.approval_id}</code>
        </dd>
        <dt>Expires</dt>
        <dd>{when(approval.expires_at)}</dd>
      </dl>
    </div>
  );
}

/** The approvals queue: what waits, and a decision where the caller may
 *  make one (an approver of the account who did not ask for it). */
function Approvals({ token }) {
  const [list, setList] = useState(null);
  const [error, setError] = useState(null);
  const [note, setNote] = useState(null);
  const [busy, setBusy] = useState(false);
  const load = () =>
    api
      .approvals(token)
      .then((l) => setList(l))
      .catch(setError);
  useEffect(() => {
    load();
  }, []);
  const decide = async (a, decision) => {
    setBusy(true);
    setError(null);
    try {
      const r = await api.decide(token, a.approval_id, decision);
      const d = r.approval;
      setNote(
        d.status === "sent"
          ? `${d.approval_id} approved and sent as ${d.operation_id}`
          : d.status === "approved"
            ? `${d.approval_id} approved; not sent yet (${d.last_refusal || "tried again shortly"})`
            : `${d.approval_id} ${d.status}`,
      );
      await load();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  if (!list) return error ? <ErrorBox error={error} /> : <p>Loading…</p>;
  return (
    <section className="card" data-testid="approvals">
      <h2>Approvals</h2>
      {note && <p data-testid="decision-note">{note}</p>}
      <ErrorBox error={error} />
      {list.length === 0 ? (
        <p>Nothing waits for a decision.</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th>Requested</th>
              <th>By</th>
              <th>Account</th>
              <th>Operation</th>
              <th>Order</th>
              <th>Amount</th>
              <th>Why</th>
              <th>Status</th>
              <th></th>
            </tr>
          </thead>
          <tbody>
            {list.map((a) => (
              <tr key={a.approval_id} data-testid="approval-row">
                <td>{when(a.requested_at)}</td>
                <td>{a.requested_by}</td>
                <td>{a.account}</td>
                <td>{a.operation.replace(/_/g, " ")}</td>
                <td>{a.order_ref}</td>
                <td>{typeof a.amount === "number" ? money(a.amount, a.request?.currency) : "whole"}</td>
                <td className="detail">{a.why}</td>
                <td>{a.status}</td>
                <td>
                  {a.may_decide ? (
                    <>
                      <button onClick={() => decide(a, "approve")} disabled={busy}>
                        Approve
                      </button>{" "}
                      <button className="secondary" onClick={() => decide(a, "reject")} disabled={busy}>
                        Reject
                      </button>
                    </>
                  ) : (
                    <span className="minor">{a.status === "awaiting_approval" ? "another approver decides" : ""}</span>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

/** The account and operation pickers of the run form and the batch. */
function Pickers({ testid = "", accounts, account, setAccountName, operation, setOperation }) {
  return (
    <>
      <label>
        Account{" "}
        <select data-testid={`${testid}account`} value={account?.name || ""} onChange={(e) => setAccountName(e.target.value)}>
          {accounts.map((a) => (
            <option key={a.name} value={a.name}>
              {a.name} ({a.provider})
            </option>
          ))}
        </select>
      </label>
      <label>
        Operation{" "}
        <select data-testid={`${testid}operation`} value={operation} onChange={(e) => setOperation(e.target.value)}>
          {(account?.operations || []).map((o) => (
            <option key={o} value={o}>
              {o.replace(/_/g, " ")}
            </option>
          ))}
        </select>
      </label>
    </>
  );
}

/** The run form. `start` (from the URL, e.g. an order's "Refund") picks
 *  the account and operation and fills `order_ref`. */
function Run({ token, accounts, start = {} }) {
  const first = accounts.find((a) => a.name === start.account) || accounts.find((a) => a.operations.length > 0);
  const [accountName, setAccountName] = useState(first?.name || "");
  const account = accounts.find((a) => a.name === accountName);
  const [operation, setOperation] = useState(
    account?.operations.includes(start.operation) ? start.operation : account?.operations[0] || "",
  );
  const prefill = React.useRef(start.order_ref ? { order_ref: start.order_ref } : undefined);
  const [schema, setSchema] = useState(null);
  const [formData, setFormData] = useState(undefined);
  const [pending, setPending] = useState(null); // {doc, key}
  const [result, setResult] = useState(null);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const [round, setRound] = useState(0);

  useEffect(() => {
    if (account && !account.operations.includes(operation)) setOperation(account.operations[0] || "");
  }, [accountName]);
  useEffect(() => {
    setSchema(null);
    // The URL's order on the first form only.
    setFormData(prefill.current);
    prefill.current = undefined;
    setPending(null);
    setResult(null);
    setError(null);
    if (!account || !operation) return;
    let live = true;
    api
      .schema(`${account.provider}/${operation}.request.json`)
      .then((s) => live && setSchema(s))
      .catch((e) => live && setError(e));
    return () => {
      live = false;
    };
  }, [accountName, operation]);
  const uiSchema = useMemo(() => (schema ? uiSchemaFor(schema) : {}), [schema]);

  const send = async () => {
    setBusy(true);
    setError(null);
    try {
      setResult(await api.run(token, account.name, operation, pending.doc, pending.key));
      setPending(null);
      // Sent: the form starts empty; another send needs a new review.
      setFormData(undefined);
      setRound((r) => r + 1);
    } catch (e) {
      // The same key is kept: sending again cannot run the operation twice.
      setError(e);
    } finally {
      setBusy(false);
    }
  };

  if (accounts.length === 0) return <p>You may run operations on no account.</p>;
  return (
    <section>
      <div className="pickers">
        <Pickers
          accounts={accounts}
          account={account}
          setAccountName={setAccountName}
          operation={operation}
          setOperation={setOperation}
        />
      </div>
      <ErrorBox error={error} />
      {pending ? (
        <Confirm
          account={account}
          operation={operation}
          doc={pending.doc}
          busy={busy}
          onSend={send}
          onBack={() => setPending(null)}
        />
      ) : (
        schema && (
          <div className="card">
            <Form
              key={`${accountName}/${operation}/${round}`}
              schema={schema}
              widgets={{ money: MoneyWidget }}
              formContext={{ currency: formData?.currency }}
              uiSchema={{ ...uiSchema, "ui:submitButtonOptions": { submitText: "Review" } }}
              validator={cfworkerValidator}
              formData={formData}
              onChange={(e) => setFormData(e.formData)}
              onSubmit={(e) => {
                setResult(null);
                setPending({ doc: e.formData, key: crypto.randomUUID() });
              }}
              onError={() => setResult(null)}
              showErrorList="top"
              noHtml5Validate
            />
          </div>
        )
      )}
      {result && <Envelope envelope={result.envelope} replayed={result.replayed} />}
    </section>
  );
}

/** A batch: upload a file, see it checked and grouped by order before
 *  anything runs, start it, follow it (the daemon runs it, as
 *  `payops batch` does). */
function Batch({ token, accounts }) {
  const runnable = accounts.filter((a) => a.operations.length > 0);
  const [accountName, setAccountName] = useState(runnable[0]?.name || "");
  const account = runnable.find((a) => a.name === accountName);
  const [operation, setOperation] = useState(account?.operations.includes("refund") ? "refund" : account?.operations[0] || "");
  const [file, setFile] = useState(null);
  const [fresh, setFresh] = useState(false);
  const [batch, setBatch] = useState(null);
  const { busy, error, setError, run } = useAction();
  useEffect(() => {
    if (account && !account.operations.includes(operation)) setOperation(account.operations[0] || "");
  }, [accountName]);
  // Follow a running batch.
  useEffect(() => {
    if (batch?.state !== "running") return;
    const t = setInterval(() => {
      api
        .batch(token, batch.batch_id)
        .then(setBatch)
        .catch(setError);
    }, 500);
    return () => clearInterval(t);
  }, [batch?.batch_id, batch?.state]);
  const check = (e) => {
    e.preventDefault();
    setBatch(null);
    run(async () =>
      setBatch(await api.uploadBatch(token, { account: accountName, operation, name: file.name, new_batch: fresh ? "true" : "" }, file)),
    );
  };
  const act = (f) => run(async () => setBatch(await f(token, batch.batch_id)));
  const rowsOf = new Map((batch?.rows || []).map((r) => [r.row, r]));
  return (
    <section>
      <form className="card filters" onSubmit={check}>
        <Pickers
          testid="batch-"
          accounts={runnable}
          account={account}
          setAccountName={setAccountName}
          operation={operation}
          setOperation={setOperation}
        />
        <label>
          File (CSV with a header row, or JSON lines){" "}
          <input data-testid="batch-file" type="file" accept=".csv,.jsonl,.ndjson" onChange={(e) => setFile(e.target.files[0] || null)} />
        </label>
        <label className="check">
          <input type="checkbox" checked={fresh} onChange={(e) => setFresh(e.target.checked)} /> a new file under a name used
          before
        </label>
        <button type="submit" disabled={busy || !file || !operation}>
          Check
        </button>
      </form>
      <p className="minor">
        Amounts in the file are in minor units (kuruş), as in the request schema. Nothing is sent until you start the
        batch. Uploading the same file name again continues its batch: rows already done are not sent again.
      </p>
      <ErrorBox error={error} />
      {batch && (
        <div className="card" data-testid="batch">
          <h2>
            {batch.name}: {batch.total} row{batch.total === 1 ? "" : "s"}, {batch.operation.replace(/_/g, " ")} on{" "}
            {batch.account} <span className={`status status-${batch.state === "finished" ? "succeeded" : "pending"}`}>{batch.state}</span>
          </h2>
          {batch.continued && (
            <p className="warn" data-testid="batch-continued">
              This continues batch <code>{batch.batch_id}</code> of the same name: rows already done are replayed, not sent
              again{batch.changed ? "; the file changed since, so a changed row is refused as a conflict" : ""}.
            </p>
          )}
          {batch.invalid.length > 0 && (
            <div className="error" data-testid="batch-invalid">
              <strong>The check found problems; nothing can run until the file is corrected.</strong>
              <ul>
                {batch.invalid.map((i) => (
                  <li key={i.row}>
                    {i.row ? `Row ${i.row}` : "The file"}: {i.error}
                  </li>
                ))}
              </ul>
            </div>
          )}
          <h3>By order</h3>
          <table data-testid="batch-orders">
            <thead>
              <tr>
                <th>Order</th>
                <th>Rows</th>
                <th className="num">Amount</th>
                <th>Outcomes</th>
              </tr>
            </thead>
            <tbody>
              {batch.orders.map((o) => (
                <tr key={o.order_ref}>
                  <td>{o.order_ref}</td>
                  <td>{o.rows.join(", ")}</td>
                  <td className="num">
                    {money(o.amount)}
                    {o.whole > 0 && ` + ${o.whole} whole`}
                  </td>
                  <td>
                    {o.rows
                      .map((n) => rowsOf.get(n)?.outcome)
                      .filter(Boolean)
                      .map((x, i) => (
                        <React.Fragment key={i}>
                          {x.id && x.id.startsWith("op_") ? (
                            <a href={`#/operation/${x.id}`}>
                              <Status value={x.status} />
                            </a>
                          ) : (
                            <span title={x.error}>
                              <Status value={x.status} />
                            </span>
                          )}{" "}
                        </React.Fragment>
                      ))}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {batch.state !== "checked" && (
            <p data-testid="batch-progress">
              <progress value={batch.done} max={batch.total} /> {batch.done} of {batch.total} rows done
              {Object.keys(batch.counts).length > 0 &&
                ": " +
                  Object.entries(batch.counts)
                    .map(([k, v]) => `${k} ${v}`)
                    .join(", ")}
            </p>
          )}
          {batch.state !== "running" && batch.invalid.length === 0 && (
            <button data-testid="batch-start" onClick={() => act(api.startBatch)} disabled={busy}>
              {batch.state === "checked" ? `Start ${batch.total} rows` : "Run again (rows done are replayed)"}
            </button>
          )}
          {batch.state === "running" && (
            <button className="secondary" onClick={() => act(api.stopBatch)} disabled={busy}>
              Stop (rows in flight finish)
            </button>
          )}
        </div>
      )}
    </section>
  );
}

/** `datetime-local` text (the browser's zone) as RFC 3339. */
function rfc3339(local) {
  if (!local) return "";
  const d = new Date(local);
  return Number.isNaN(d.getTime()) ? "" : d.toISOString();
}

/** RFC 3339 as `datetime-local` text in the browser's zone. */
function localInput(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

/** The API's filter parameters among a view's URL parameters. */
const FILTERS = ["q", "account", "order_ref", "status", "since", "until", "min_amount", "max_amount"];
function apiFilters(params) {
  return Object.fromEntries(FILTERS.filter((k) => params[k]).map((k) => [k, params[k]]));
}

/** Rows of operations (the list, an order's). */
function OperationRows({ rows, testid = "operations" }) {
  return (
    <table data-testid={testid}>
      <thead>
        <tr>
          <th>Created</th>
          <th>Account</th>
          <th>Operation</th>
          <th>Order</th>
          <th className="num">Amount</th>
          <th>Status</th>
        </tr>
      </thead>
      <tbody>
        {rows.map((o) => (
          <tr key={o.operation_id} className={UNRESOLVED.has(o.status) ? "unresolved" : ""}>
            <td>{when(o.created_at)}</td>
            <td>{o.account}</td>
            <td>
              <a href={`#/operation/${encodeURIComponent(o.operation_id)}`}>{o.operation.replace(/_/g, " ")}</a>
            </td>
            <td>
              {o.order_ref && (
                <a
                  data-testid="order-link"
                  href={`#/order/${encodeURIComponent(o.account)}/${encodeURIComponent(o.order_ref)}`}
                >
                  {o.order_ref}
                </a>
              )}
            </td>
            <td className="num">
              {typeof o.request?.amount === "number" && o.operation !== "query"
                ? money(o.request.amount, o.request.currency)
                : ""}
            </td>
            <td>
              <Status value={o.status} />
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** A lira field of the filters: minor units out, or why not. */
function LiraFilter({ label, value, onChange, testid }) {
  const [text, setText] = useState(value ? typedMajor(Number(value)) : "");
  const r = text.trim() ? parseMajor(text) : { minor: "" };
  return (
    <label>
      {label}{" "}
      <input
        data-testid={testid}
        className="lira"
        inputMode="decimal"
        value={text}
        onChange={(e) => {
          setText(e.target.value);
          const p = e.target.value.trim() ? parseMajor(e.target.value) : { minor: "" };
          onChange(p.error ? { error: p.error } : String(p.minor));
        }}
      />{" "}
      TL
      {r.error && (
        <span className="field-error" role="alert">
          {" "}
          {r.error}
        </span>
      )}
    </label>
  );
}

/** Totals of the filtered operations (by day, account, operation, status). */
function Totals({ token, filters }) {
  const [data, setData] = useState(null);
  const [error, setError] = useState(null);
  const key = JSON.stringify(filters);
  useEffect(() => {
    setError(null);
    api
      .totals(token, { ...filters, utc_offset: utcOffset() })
      .then(setData)
      .catch(setError);
  }, [key]);
  if (error) return <ErrorBox error={error} />;
  if (!data) return null;
  const byStatus = {};
  for (const t of data.totals) {
    if (t.operation === "query") continue;
    const k = `${t.status} ${t.currency || "TRY"}`;
    byStatus[k] = byStatus[k] || { status: t.status, currency: t.currency || "TRY", count: 0, amount: 0 };
    byStatus[k].count += t.count;
    byStatus[k].amount += t.amount;
  }
  return (
    <details className="card" data-testid="totals">
      <summary>
        Totals of {data.operations} operation{data.operations === 1 ? "" : "s"}:{" "}
        <span data-testid="totals-summary">
          {Object.values(byStatus)
            .map((g) => `${g.status} ${money(g.amount, g.currency)} (${g.count})`)
            .join(" · ") || "no money moved"}
        </span>
      </summary>
      <table>
        <thead>
          <tr>
            <th>Day ({data.utc_offset})</th>
            <th>Account</th>
            <th>Operation</th>
            <th>Status</th>
            <th className="num">Count</th>
            <th className="num">Amount</th>
          </tr>
        </thead>
        <tbody>
          {data.totals.map((t, i) => (
            <tr key={i}>
              <td>{t.day}</td>
              <td>{t.account}</td>
              <td>{t.operation.replace(/_/g, " ")}</td>
              <td>{t.status}</td>
              <td className="num">{t.count}</td>
              <td className="num">{t.operation === "query" ? "" : money(t.amount, t.currency || "TRY")}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </details>
  );
}

/** Operations: search, filters (kept in the URL), totals, CSV export. */
function Operations({ token, accounts, params }) {
  const blank = {
    q: params.q || "",
    account: params.account || "",
    status: params.status ? params.status.split(",") : [],
    since: localInput(params.since),
    until: localInput(params.until),
    min_amount: params.min_amount || "",
    max_amount: params.max_amount || "",
  };
  const [filter, setFilter] = useState(blank);
  const [rows, setRows] = useState([]);
  const [next, setNext] = useState(null);
  const [loaded, setLoaded] = useState(false);
  const { busy, error, setError, run } = useAction();
  const filters = apiFilters(params);
  const key = JSON.stringify(filters);
  const load = async (cursor) => {
    setError(null);
    try {
      const page = await api.operations(token, { ...filters, cursor: cursor || "", limit: "25" });
      setRows(cursor ? [...rows, ...page.operations] : page.operations);
      setNext(page.next_cursor);
      setLoaded(true);
    } catch (e) {
      setError(e);
    }
  };
  useEffect(() => {
    setFilter(blank);
    load(null);
  }, [key]);
  const toggle = (st) =>
    setFilter({ ...filter, status: filter.status.includes(st) ? filter.status.filter((x) => x !== st) : [...filter.status, st] });
  const bad = [filter.min_amount, filter.max_amount].some((v) => typeof v === "object");
  const submit = (e) => {
    e.preventDefault();
    if (bad) return;
    go("operations", [], {
      q: filter.q.trim(),
      account: filter.account,
      status: filter.status.join(","),
      since: rfc3339(filter.since),
      until: rfc3339(filter.until),
      min_amount: filter.min_amount,
      max_amount: filter.max_amount,
    });
  };
  const exportCsv = () =>
    run(async () => {
      const { name, blob } = await api.exportCsv(token, { ...filters, utc_offset: utcOffset() });
      const url = URL.createObjectURL(blob);
      const a = document.createElement("a");
      a.href = url;
      a.download = name;
      document.body.appendChild(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
    });
  return (
    <section>
      <form className="filters card" onSubmit={submit}>
        <label className="search">
          Search{" "}
          <input
            data-testid="search"
            type="search"
            placeholder="order, operation id or provider reference"
            value={filter.q}
            onChange={(e) => setFilter({ ...filter, q: e.target.value })}
          />
        </label>
        <label>
          Account{" "}
          <select value={filter.account} onChange={(e) => setFilter({ ...filter, account: e.target.value })}>
            <option value="">any</option>
            {accounts.map((a) => (
              <option key={a.name} value={a.name}>
                {a.name}
              </option>
            ))}
          </select>
        </label>
        <fieldset>
          <legend>Status</legend>
          {STATES.map((st) => (
            <label key={st} className="check">
              <input type="checkbox" checked={filter.status.includes(st)} onChange={() => toggle(st)} /> {st}
            </label>
          ))}
        </fieldset>
        <label>
          Since <input type="datetime-local" value={filter.since} onChange={(e) => setFilter({ ...filter, since: e.target.value })} />
        </label>
        <label>
          Until <input type="datetime-local" value={filter.until} onChange={(e) => setFilter({ ...filter, until: e.target.value })} />
        </label>
        <LiraFilter
          key={`min${key}`}
          label="Amount from"
          testid="min-amount"
          value={params.min_amount}
          onChange={(v) => setFilter((f) => ({ ...f, min_amount: v }))}
        />
        <LiraFilter
          key={`max${key}`}
          label="to"
          testid="max-amount"
          value={params.max_amount}
          onChange={(v) => setFilter((f) => ({ ...f, max_amount: v }))}
        />
        <button type="submit" disabled={bad}>
          Filter
        </button>
        <button type="button" className="secondary" onClick={exportCsv} disabled={busy} data-testid="export">
          Export CSV
        </button>
      </form>
      <p className="minor">
        Times in {ZONE}. This view's address keeps its filters: bookmark or share it.
      </p>
      <ErrorBox error={error} />
      <Totals token={token} filters={filters} />
      <OperationRows rows={rows} />
      {loaded && rows.length === 0 && <p>No operation matches.</p>}
      {next && (
        <button className="secondary" onClick={() => load(next)}>
          More
        </button>
      )}
    </section>
  );
}

/** The order's ledger (what was paid, returned, at risk, what remains). */
function OrderPanel({ token, account, orderRef, refresh }) {
  const [order, setOrder] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => {
    if (!orderRef) return;
    api.order(token, account, orderRef).then(setOrder).catch(setError);
  }, [account, orderRef, refresh]);
  if (!orderRef) return null;
  if (error) return <ErrorBox error={error} />;
  if (!order) return null;
  const t = order.totals;
  const cur = order.paid?.currency;
  return (
    <div data-testid="order">
      <h3>
        Order <a href={`#/order/${encodeURIComponent(account)}/${encodeURIComponent(orderRef)}`}>{orderRef}</a>
      </h3>
      <dl>
        <dt>Paid</dt>
        <dd data-testid="order-paid">
          {order.paid
            ? `${money(order.paid.amount, cur)} (read ${when(order.paid.read_at)})`
            : "not known: no query of this order is stored"}
        </dd>
        <dt>Returned</dt>
        <dd>{money(t.succeeded, cur)}</dd>
        <dt>Pending</dt>
        <dd>{money(t.pending, cur)}</dd>
        <dt>At risk</dt>
        <dd>{money(t.unknown, cur)}</dd>
        <dt>Remaining</dt>
        <dd data-testid="order-remaining">{t.remaining === null ? "not known" : money(t.remaining, cur)}</dd>
        {order.external_returns.length > 0 && (
          <>
            <dt>Outside payops</dt>
            <dd>
              {order.external_returns
                .map((r) => `${r.kind} ${money(r.amount, cur)} ${r.state} (${r.transaction_id ?? "no id"})`)
                .join("; ")}
            </dd>
          </>
        )}
      </dl>
    </div>
  );
}

/** One order: its ledger, every operation on it, and a refund or return
 *  started from it. */
function OrderView({ token, accounts, account, orderRef }) {
  const [rows, setRows] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => {
    api
      .operations(token, { account, order_ref: orderRef, limit: "200" })
      .then((p) => setRows(p.operations))
      .catch(setError);
  }, [account, orderRef]);
  const acct = accounts.find((a) => a.name === account);
  const start = (operation) => go("run", [], { account, operation, order_ref: orderRef });
  return (
    <section className="card" data-testid="order-view">
      <OrderPanel token={token} account={account} orderRef={orderRef} />
      <p>
        {["refund", "return", "cancel"]
          .filter((o) => acct?.operations.includes(o))
          .map((o) => (
            <React.Fragment key={o}>
              <button onClick={() => start(o)} data-testid={`order-${o}`}>
                {o[0].toUpperCase() + o.slice(1)} from this order
              </button>{" "}
            </React.Fragment>
          ))}
      </p>
      <ErrorBox error={error} />
      <h3>Operations on this order</h3>
      {rows && <OperationRows rows={rows} testid="order-operations" />}
      {rows && rows.length === 0 && <p>None recorded by payops.</p>}
    </section>
  );
}

/** The provider's words: the operation's answer, and the last query of its
 *  order (what the provider last said about the payment). */
function ProviderWords({ token, op }) {
  const [query, setQuery] = useState(undefined);
  useEffect(() => {
    if (!op.order_ref) return;
    api
      .operations(token, { account: op.account, order_ref: op.order_ref, limit: "100" })
      .then((p) => setQuery(p.operations.find((o) => o.operation === "query" && o.operation_id !== op.operation_id) || null))
      .catch(() => setQuery(null));
  }, [op.operation_id, op.updated_at]);
  const e = op.envelope;
  return (
    <>
      <dt>Provider said</dt>
      <dd data-testid="provider-words">
        {e && (e.provider_code || e.provider_message)
          ? `${e.provider_code ?? ""} ${e.provider_message ?? ""}`.trim()
          : "nothing recorded"}
        {e?.provider_reference && <span className="minor"> (reference {e.provider_reference})</span>}
      </dd>
      {op.order_ref && (
        <>
          <dt>Last query</dt>
          <dd data-testid="last-query">
            {query === undefined
              ? "…"
              : query === null
                ? "none of this order"
                : `${when(query.created_at)}: ${query.status}${
                    query.envelope?.provider_message
                      ? `, "${[query.envelope.provider_code, query.envelope.provider_message].filter(Boolean).join(" ")}"`
                      : ""
                  }`}
            {query && (
              <>
                {" "}
                <a href={`#/operation/${encodeURIComponent(query.operation_id)}`}>open</a>
              </>
            )}
          </dd>
        </>
      )}
    </>
  );
}

/** Resolve an unknown or pending operation with evidence (an approver of
 *  its account; above an approval threshold it waits for another). */
function Resolve({ token, op, onDone }) {
  const [status, setStatus] = useState("");
  const [evidence, setEvidence] = useState("");
  const { busy, error, run } = useAction();
  const submit = (e) => {
    e.preventDefault();
    run(async () => {
      const r = await api.resolve(token, op.operation_id, status, evidence.trim());
      onDone(
        r.approval
          ? `Waiting for another approver: ${r.approval.approval_id} (${r.approval.why || r.approval.status})`
          : `Resolved ${r.status} with your evidence`,
      );
    });
  };
  return (
    <form className="resolve" onSubmit={submit} data-testid="resolve">
      <h3>Resolve with evidence</h3>
      <p className="minor">
        When the provider's query cannot settle it: say what happened to the money, and what proves it (the provider
        panel's transaction, a bank statement line). It is recorded with your name.
      </p>
      <label>
        The money{" "}
        <select data-testid="resolve-status" value={status} onChange={(e) => setStatus(e.target.value)}>
          <option value="">choose…</option>
          <option value="succeeded">moved: succeeded</option>
          <option value="failed">did not move: failed</option>
        </select>
      </label>
      <label className="evidence">
        Evidence
        <textarea data-testid="resolve-evidence" rows={2} value={evidence} onChange={(e) => setEvidence(e.target.value)} />
      </label>
      <button type="submit" disabled={busy || !status || !evidence.trim()}>
        Record resolution
      </button>
      <ErrorBox error={error} />
    </form>
  );
}

function Detail({ token, accounts, id }) {
  const [data, setData] = useState(null);
  const [note, setNote] = useState(null);
  const { busy, error, setError, run } = useAction();
  const load = () =>
    api
      .operation(token, id)
      .then(setData)
      .catch(setError);
  useEffect(() => {
    setData(null);
    setNote(null);
    load();
  }, [id]);
  if (error && !data) return <ErrorBox error={error} />;
  if (!data) return <p>Loading…</p>;
  const op = data.operation;
  const acct = accounts.find((a) => a.name === op.account);
  const open = UNRESOLVED.has(op.status) && op.status !== "in_flight";
  const canReconcile = open && acct?.operations.includes("query");
  const reconcile = () =>
    run(async () => {
      const r = await api.reconcile(token, id);
      setNote(r.to ? `Settled: ${r.from} → ${r.to} (${r.how})` : `Unchanged: ${r.how}`);
      await load();
    });
  return (
    <section className="card" data-testid="detail">
      <button className="secondary" onClick={() => window.history.back()}>
        ← Operations
      </button>
      <h2>
        {op.operation.replace(/_/g, " ")} <Status value={op.status} />
      </h2>
      <dl>
        <dt>Id</dt>
        <dd>
          <code>{op.operation_id}</code>
        </dd>
        <dt>Account</dt>
        <dd>
          {op.account} ({op.provider})
        </dd>
        <dt>Order</dt>
        <dd>{op.order_ref}</dd>
        {typeof op.request?.amount === "number" && (
          <>
            <dt>Amount</dt>
            <dd>{money(op.request.amount, op.request.currency)}</dd>
          </>
        )}
        <dt>Actor</dt>
        <dd data-testid="actor" title={op.actor}>
          {op.actor_name ? `${op.actor_name} (${op.actor})` : op.actor}
        </dd>
        <dt>Created</dt>
        <dd>{when(op.created_at)}</dd>
        <ProviderWords token={token} op={op} />
        {op.resolution && (
          <>
            <dt>Resolution</dt>
            <dd data-testid="resolution">{op.resolution}</dd>
          </>
        )}
      </dl>
      {UNRESOLVED.has(op.status) && (
        <p className="warn">
          Not settled: the money may or may not have moved. Do not repeat the operation; reconcile, or resolve it with
          evidence.
        </p>
      )}
      {canReconcile && (
        <button onClick={reconcile} disabled={busy}>
          Reconcile now
        </button>
      )}
      {note && <p data-testid="reconcile-note">{note}</p>}
      <ErrorBox error={error} />
      {open && acct?.may_resolve && (
        <Resolve
          token={token}
          op={op}
          onDone={(text) => {
            setNote(text);
            load();
          }}
        />
      )}
      <OrderPanel token={token} account={op.account} orderRef={op.order_ref} refresh={op.updated_at} />
      <h3>Audit events</h3>
      <table data-testid="events">
        <thead>
          <tr>
            <th>At</th>
            <th>Event</th>
            <th>Actor</th>
            <th>Detail</th>
          </tr>
        </thead>
        <tbody>
          {data.events.map((e, i) => (
            <tr key={i}>
              <td>{when(e.at)}</td>
              <td>{e.kind}</td>
              <td title={e.actor}>{e.actor_name || e.actor}</td>
              <td className="detail">{e.detail}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <details>
        <summary>Request and envelope</summary>
        <pre>{JSON.stringify({ request: op.request, envelope: op.envelope }, null, 2)}</pre>
      </details>
    </section>
  );
}

export default function App() {
  const [session, setSession] = useState(null); // {auth, me, accounts}
  const [methods, setMethods] = useState(null);
  const [checked, setChecked] = useState(false);
  const [route, setRoute] = useState(parseHash);
  const signinError = useMemo(() => new URLSearchParams(window.location.search).get("signin_error"), []);
  useEffect(() => {
    const follow = () => setRoute(parseHash());
    window.addEventListener("hashchange", follow);
    // A session already open in this browser (after the identity
    // provider sent it back, or a reload) is used as it is.
    api
      .methods()
      .then(async (m) => {
        setMethods(m);
        if (m.signed_in) setSession(await open({}));
      })
      .catch(() => setMethods({ local: false, oidc: null }))
      .finally(() => setChecked(true));
    if (window.location.search)
      window.history.replaceState(null, "", window.location.pathname + window.location.hash);
    return () => window.removeEventListener("hashchange", follow);
  }, []);
  if (!session) {
    return (
      <main>
        <header>
          <h1>payops</h1>
        </header>
        {checked ? (
          <SignIn onSignedIn={setSession} methods={methods} initialError={signinError} />
        ) : (
          <p>Loading…</p>
        )}
      </main>
    );
  }
  const { auth, me, accounts } = session;
  // A viewer's accounts offer no operation: the run form is not offered.
  const mayRun = accounts.some((a) => a.operations.length > 0);
  const views = ["run", "batch", "operations", "operation", "order", "approvals"];
  let current = views.includes(route.view) ? route.view : mayRun ? "run" : "operations";
  if ((current === "run" || current === "batch") && !mayRun) current = "operations";
  const signOut = async () => {
    if (typeof auth === "object") await api.logout(auth).catch(() => {});
    setSession(null);
  };
  const tab = (v) => (current === v || (v === "operations" && ["operation", "order"].includes(current)) ? "active" : "");
  return (
    <main>
      <header>
        <h1>payops</h1>
        <span className="who" data-testid="who">
          {me.display_name} · {me.role || "no role"}
        </span>
        <nav>
          {mayRun && (
            <button className={tab("run")} onClick={() => go("run")} data-testid="nav-run">
              Run an operation
            </button>
          )}
          {mayRun && (
            <button className={tab("batch")} onClick={() => go("batch")} data-testid="nav-batch">
              Batch
            </button>
          )}
          <button className={tab("operations")} onClick={() => go("operations")}>
            Operations
          </button>
          <button className={tab("approvals")} onClick={() => go("approvals")} data-testid="nav-approvals">
            Approvals
          </button>
          <button className="secondary" onClick={signOut}>
            Sign out
          </button>
        </nav>
      </header>
      {current === "run" && (
        <Run key={JSON.stringify(route.params)} token={auth} accounts={accounts} start={route.params} />
      )}
      {current === "batch" && <Batch token={auth} accounts={accounts} />}
      {current === "approvals" && <Approvals token={auth} />}
      {current === "operations" && <Operations token={auth} accounts={accounts} params={route.params} />}
      {current === "operation" && <Detail token={auth} accounts={accounts} id={route.args[0]} />}
      {current === "order" && (
        <OrderView
          key={route.args.join("/")}
          token={auth}
          accounts={accounts}
          account={route.args[0]}
          orderRef={route.args[1]}
        />
      )}
    </main>
  );
}
