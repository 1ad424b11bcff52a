// Drives the operator console in a real headless Chromium (Playwright,
// Debian's /usr/bin/chromium) against a running sandbox daemon:
// sign in, an invalid amount is refused by the form before anything is
// sent, a refund from the form succeeds after confirmation, the operation
// is listed and opens with its audit events, an unknown operation is marked
// and reconciled from the page. Fails on any console error or CSP violation.
//
//   node tests/console.mjs BASE_URL TOKEN [SCREENSHOT_DIR]
//
// Prints one JSON line with what it saw; exits non-zero on any failure.
import { chromium } from "playwright-core";

const [base, token, shots] = process.argv.slice(2);
if (!base || !token) {
  console.error("usage: node tests/console.mjs BASE_URL TOKEN [SCREENSHOT_DIR]");
  process.exit(2);
}
const executablePath = process.env.PAYOPS_CHROMIUM || "/usr/bin/chromium";

const browser = await chromium.launch({
  executablePath,
  headless: true,
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});
const problems = [];
const sent = [];
const seen = {};
let step = "start";
try {
  // Not the daemon's zone (+03:00): the console shows the operator's.
  const context = await browser.newContext({ viewport: { width: 1100, height: 900 }, timezoneId: "America/New_York", acceptDownloads: true });
  const page = await context.newPage();
  // The browser logs the refusal's 409 itself; that one is expected.
  const expected = (text) => step.startsWith("a refusal") && /status of 409/.test(text);
  page.on("console", (m) => {
    if ((m.type() === "error" || m.type() === "warning") && !expected(m.text()))
      problems.push(`console.${m.type()} at ${step}: ${m.text()}`);
  });
  page.on("pageerror", (e) => problems.push(`page error at ${step}: ${e.message}`));
  page.on("request", (r) => {
    if (r.method() === "POST" && r.url().includes("/operations/")) sent.push({ url: r.url(), body: r.postData(), key: r.headers()["idempotency-key"] });
  });
  const shot = async (name) => {
    if (shots) await page.screenshot({ path: `${shots}/${name}.png`, fullPage: true });
  };

  step = "load";
  const res = await page.goto(`${base}/ui/`);
  seen.csp = res.headers()["content-security-policy"] || null;
  if (!seen.csp || /unsafe/.test(seen.csp)) problems.push(`no strict CSP on /ui/: ${seen.csp}`);
  await shot("console-sign-in");

  step = "sign in with a wrong token";
  await page.fill("#token", "not-a-token");
  await page.click("button[type=submit]");
  await page.getByRole("alert").waitFor();
  seen.wrongToken = await page.getByRole("alert").innerText();
  // The browser logs the 401 response itself; that is the expected answer.
  problems.splice(0, problems.length, ...problems.filter((p) => !/401/.test(p)));

  step = "sign in";
  await page.fill("#token", token);
  await page.click("button[type=submit]");
  await page.getByTestId("account").waitFor();
  seen.storage = await page.evaluate(() => ({ local: localStorage.length, session: sessionStorage.length, cookie: document.cookie }));
  if (seen.storage.local || seen.storage.session || seen.storage.cookie) problems.push(`the token left page memory: ${JSON.stringify(seen.storage)}`);

  step = "pick account and operation";
  await page.getByTestId("account").selectOption("esnek-demo");
  await page.getByTestId("operation").selectOption("refund");
  await page.locator("#root_order_ref").waitFor();

  step = "invalid amount";
  await page.fill("#root_order_ref", "DEMO-1001");
  await page.fill("#root_amount", "0");
  await page.getByRole("button", { name: "Review" }).click();
  const fieldError = page.locator(".field-error, .error-detail").first();
  await fieldError.waitFor();
  seen.fieldError = await page.locator(".error-detail").allInnerTexts();
  await shot("console-field-error");
  if (sent.length) problems.push(`something was sent for an invalid amount: ${JSON.stringify(sent)}`);
  if ((await page.getByTestId("confirm").count()) !== 0) problems.push("an invalid form reached confirmation");

  step = "lira with too many decimals";
  await page.fill("#root_amount", "12.505");
  await page.locator(".money-error").waitFor();
  seen.moneyError = await page.locator(".money-error").innerText();
  await page.getByRole("button", { name: "Review" }).click();
  if ((await page.getByTestId("confirm").count()) !== 0) problems.push("12.505 reached confirmation");
  if (sent.length) problems.push(`something was sent for 12.505: ${JSON.stringify(sent)}`);
  await page.fill("#root_amount", "12.50");
  seen.dotMinor = await page.locator(".money .minor").innerText();

  step = "valid refund, confirmation";
  await page.fill("#root_amount", "12,50");
  await page.getByRole("button", { name: "Review" }).click();
  await page.getByTestId("confirm").waitFor();
  seen.confirmAccount = await page.getByTestId("confirm-account").innerText();
  seen.confirmAmount = await page.getByTestId("confirm-amount").innerText();
  if (sent.length) problems.push("sent before confirmation");
  await shot("console-confirm");

  step = "send";
  await page.getByRole("button", { name: "Send refund" }).click();
  await page.getByTestId("envelope").waitFor();
  seen.outcome = await page.locator("[data-testid=envelope] h2 .status").first().innerText();
  await shot("console-outcome");
  // Sent: the form is empty again (another send needs a new review).
  seen.amountAfterSend = await page.inputValue("#root_amount");

  step = "an unknown outcome";
  await page.getByRole("button", { name: "Run an operation" }).click();
  await page.getByTestId("account").selectOption("esnek-demo");
  await page.locator("#root_order_ref").waitFor();
  await page.fill("#root_order_ref", "DEMO-1003");
  await page.fill("#root_amount", "5,00");
  await page.getByRole("button", { name: "Review" }).click();
  await page.getByRole("button", { name: "Send refund" }).click();
  await page.getByTestId("envelope").waitFor();
  seen.secondOutcome = await page.locator("[data-testid=envelope] h2 .status").first().innerText();

  step = "a refusal: another refund on the order whose refund is unknown";
  await page.getByRole("button", { name: "Run an operation" }).click();
  await page.getByTestId("account").selectOption("esnek-demo");
  await page.locator("#root_order_ref").waitFor();
  await page.fill("#root_order_ref", "DEMO-1003");
  await page.fill("#root_amount", "3,00");
  await page.getByRole("button", { name: "Review" }).click();
  await page.getByRole("button", { name: "Send refund" }).click();
  await page.locator(".refusal").waitFor();
  seen.refusal = await page.locator(".refusal").innerText();
  await shot("console-refusal");
  if (!/Refused before sending \(conflict\)/.test(seen.refusal) || !/rf_/.test(seen.refusal))
    problems.push(`the guard's refusal is not shown as a refusal: ${seen.refusal}`);

  step = "list";
  await page.getByRole("button", { name: "Operations" }).click();
  await page.getByTestId("operations").locator("tbody tr").nth(1).waitFor();
  seen.rows = await page.getByTestId("operations").locator("tbody tr").allInnerTexts();
  seen.marked = await page.locator("tr.unresolved").count();
  await shot("console-operations");

  step = "filter";
  await page.locator("label.check", { hasText: "succeeded" }).locator("input").check();
  await page.getByRole("button", { name: "Filter" }).click();
  // The refund of DEMO-1001 and the order guard's query before it.
  await page.waitForFunction(() => document.querySelectorAll("[data-testid=operations] tbody tr").length === 2);
  seen.filtered = await page.getByTestId("operations").locator("tbody tr").allInnerTexts();
  await page.locator("label.check", { hasText: "succeeded" }).locator("input").uncheck();
  await page.getByRole("button", { name: "Filter" }).click();
  // Two refunds, and a query of each order by the order guard (three: the
  // refused refund's guard queried DEMO-1003 again).
  await page.waitForFunction(() => document.querySelectorAll("[data-testid=operations] tbody tr").length === 5);

  step = "open the refund";
  await page.locator("tr", { hasText: "DEMO-1001" }).filter({ hasText: "refund" }).getByRole("link", { name: "refund" }).click();
  await page.getByTestId("detail").waitFor();
  seen.events = await page.getByTestId("events").locator("tbody tr td:nth-child(2)").allInnerTexts();
  await page.getByTestId("order-remaining").waitFor();
  seen.orderRemaining = await page.getByTestId("order-remaining").innerText();
  await shot("console-operation");

  step = "reconcile the unknown one";
  await page.getByRole("button", { name: "← Operations" }).click();
  await page.locator("tr", { hasText: "DEMO-1003" }).filter({ hasText: "unknown" }).getByRole("link", { name: "refund" }).click();
  await page.getByRole("button", { name: "Reconcile now" }).click();
  await page.getByTestId("reconcile-note").waitFor();
  seen.reconciled = await page.getByTestId("reconcile-note").innerText();
  await shot("console-reconcile");

  step = "the provider's words and the last query";
  seen.afterReconcile = await page.locator("[data-testid=detail] h2 .status").first().innerText();
  seen.providerWords = await page.getByTestId("provider-words").innerText();
  await page.waitForFunction(() => !document.querySelector("[data-testid=last-query]").innerText.startsWith("…"));
  seen.lastQuery = await page.getByTestId("last-query").innerText();
  seen.createdShown = await page.locator("[data-testid=detail] dl dt", { hasText: "Created" }).locator("xpath=following-sibling::dd[1]").innerText();
  seen.eventTimes = await page.getByTestId("events").locator("tbody tr td:nth-child(1)").allInnerTexts();

  step = "resolve the unknown one with evidence";
  await page.getByTestId("resolve-status").selectOption("failed");
  await page.getByTestId("resolve-evidence").fill("EsnekPOS panel: no return on DEMO-1003 on 07.12.2026");
  await shot("console-resolve");
  await page.getByRole("button", { name: "Record resolution" }).click();
  await page.getByTestId("resolution").filter({ hasText: "EsnekPOS panel" }).waitFor();
  seen.resolution = await page.getByTestId("resolution").innerText();
  seen.resolveNote = await page.getByTestId("reconcile-note").innerText();
  await page.waitForFunction(() => document.querySelector("[data-testid=detail] h2 .status").innerText.startsWith("failed"));
  seen.resolvedStatus = await page.locator("[data-testid=detail] h2 .status").first().innerText();
  seen.resolveFormAfter = await page.getByTestId("resolve").count();

  step = "a query of an order whose reference a spreadsheet would run";
  await page.getByTestId("nav-run").click();
  await page.getByTestId("account").selectOption("esnek-demo");
  await page.getByTestId("operation").selectOption("query");
  await page.locator("#root_order_ref").waitFor();
  await page.fill("#root_order_ref", "=HYPERLINK(\"http://x\")");
  await page.getByRole("button", { name: "Review" }).click();
  await page.getByRole("button", { name: "Send query" }).click();
  await page.getByTestId("envelope").waitFor();

  const rowCount = (n) =>
    page.waitForFunction((n) => document.querySelectorAll("[data-testid=operations] tbody tr").length === n, n);
  step = "search by order";
  await page.getByRole("button", { name: "Operations" }).click();
  await page.getByTestId("search").fill("DEMO-1001");
  await page.getByRole("button", { name: "Filter" }).click();
  await rowCount(2);
  seen.searchRows = await page.getByTestId("operations").locator("tbody tr").allInnerTexts();
  seen.searchHash = await page.evaluate(() => location.hash);
  seen.zoneNote = await page.locator("p.minor", { hasText: "Times in" }).innerText();

  step = "amounts in lira";
  await page.getByTestId("search").fill("");
  await page.getByTestId("min-amount").fill("12,50");
  await page.getByTestId("max-amount").fill("12.50");
  await page.getByRole("button", { name: "Filter" }).click();
  await rowCount(1);
  seen.amountRows = await page.getByTestId("operations").locator("tbody tr").allInnerTexts();
  seen.amountHash = await page.evaluate(() => location.hash);
  await page.getByTestId("min-amount").fill("12.505");
  seen.amountError = await page.locator(".filters .field-error").innerText();
  seen.filterDisabled = await page.getByRole("button", { name: "Filter" }).isDisabled();

  step = "totals";
  await page.getByRole("button", { name: "Operations" }).click();
  await rowCount(6);
  await page.getByTestId("totals-summary").waitFor();
  seen.totals = await page.getByTestId("totals-summary").innerText();
  await page.getByTestId("totals").locator("summary").click();
  await shot("console-search");

  step = "export";
  const [download] = await Promise.all([page.waitForEvent("download"), page.getByTestId("export").click()]);
  seen.csvName = download.suggestedFilename();
  const { readFile } = await import("node:fs/promises");
  seen.csv = await readFile(await download.path(), "utf8");

  step = "the order view";
  await page.getByTestId("order-link").filter({ hasText: "DEMO-1001" }).first().click();
  await page.getByTestId("order-view").waitFor();
  await page.getByTestId("order-remaining").waitFor();
  await page.getByTestId("order-operations").locator("tbody tr").nth(1).waitFor();
  seen.orderView = {
    paid: await page.getByTestId("order-paid").innerText(),
    remaining: await page.getByTestId("order-remaining").innerText(),
    rows: await page.getByTestId("order-operations").locator("tbody tr").allInnerTexts(),
    hash: await page.evaluate(() => location.hash),
  };
  await shot("console-order");
  await page.getByTestId("order-refund").click();
  await page.locator("#root_order_ref").waitFor();
  seen.prefilled = {
    account: await page.getByTestId("account").inputValue(),
    operation: await page.getByTestId("operation").inputValue(),
    order: await page.inputValue("#root_order_ref"),
  };

  step = "a shared view opens after sign-in";
  const other = await context.newPage();
  other.on("pageerror", (e) => problems.push(`page error at ${step}: ${e.message}`));
  await other.goto(`${base}/ui/${seen.searchHash}`);
  await other.fill("#token", token);
  await other.click("button[type=submit]");
  await other.waitForFunction(() => document.querySelectorAll("[data-testid=operations] tbody tr").length === 2);
  seen.shared = { search: await other.getByTestId("search").inputValue(), rows: await other.getByTestId("operations").locator("tbody tr").count() };
  await other.close();

  step = "a batch with an invalid row is checked, not run";
  await page.getByTestId("nav-batch").click();
  await page.getByTestId("batch-account").selectOption("esnek-demo");
  await page.getByTestId("batch-operation").selectOption("refund");
  await page.setInputFiles("[data-testid=batch-file]", { name: "refunds.csv", mimeType: "text/csv", buffer: Buffer.from("order_ref,amount\nDEMO-1001,100\nDEMO-1002,0\n") });
  await page.getByRole("button", { name: "Check" }).click();
  await page.getByTestId("batch-invalid").waitFor();
  seen.batchInvalid = await page.getByTestId("batch-invalid").innerText();
  seen.batchStartOffered = await page.getByTestId("batch-start").count();

  step = "a batch checked, grouped by order, run and followed";
  await page.setInputFiles("[data-testid=batch-file]", { name: "refunds.csv", mimeType: "text/csv", buffer: Buffer.from("order_ref,amount\nDEMO-1001,100\nDEMO-1002,300\nDEMO-1001,200\n") });
  await page.getByRole("button", { name: "Check" }).click();
  await page.getByTestId("batch-start").waitFor();
  seen.batchOrders = await page.getByTestId("batch-orders").locator("tbody tr").allInnerTexts();
  seen.batchContinued = await page.getByTestId("batch-continued").count();
  seen.batchStateBeforeStart = await page.locator("[data-testid=batch] h2 .status").innerText();
  await shot("console-batch-checked");
  await page.getByTestId("batch-start").click();
  await page.waitForFunction(() => /3 of 3 rows done/.test(document.querySelector("[data-testid=batch-progress]")?.innerText || ""));
  await page.locator("[data-testid=batch] h2 .status", { hasText: "finished" }).waitFor();
  seen.batchProgress = await page.getByTestId("batch-progress").innerText();
  seen.batchOutcomes = await page.getByTestId("batch-orders").locator("tbody tr").allInnerTexts();
  await shot("console-batch");
  step = "done";
} catch (e) {
  problems.push(`failed at ${step}: ${e.message.split("\n")[0]}`);
} finally {
  await browser.close();
}
seen.sent = sent.map((s) => ({ url: s.url.replace(base, ""), body: JSON.parse(s.body || "null"), key: Boolean(s.key) }));
console.log(JSON.stringify({ problems, seen }));
process.exit(problems.length ? 1 : 0);
