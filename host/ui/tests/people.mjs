// People in the operator console, in a real headless Chromium (Playwright,
// Debian's /usr/bin/chromium) against `payops serve`:
// - a local viewer signs in: their name and role are shown, the run form is
//   not offered, and the API refuses a refund sent from the page anyway;
// - a local operator signs in and runs a refund; signs out;
// - a person signs in through a real OpenID provider (tests/idp.mjs): their
//   groups claim maps to the operator role, they run a refund, the
//   operation names them;
// - someone whose groups map to no role is told so on the sign-in page.
//
//   node tests/people.mjs BASE_URL VIEWER OPERATOR PASSWORD
//
// Prints one JSON line with what it saw; exits non-zero on any failure.
import { chromium } from "playwright-core";

const [base, viewer, operator, password] = process.argv.slice(2);
if (!base || !viewer || !operator || !password) {
  console.error("usage: node tests/people.mjs BASE_URL VIEWER OPERATOR PASSWORD");
  process.exit(2);
}
const browser = await chromium.launch({
  executablePath: process.env.PAYOPS_CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-sync"],
});
const problems = [];
const seen = {};
let step = "start";
// The answers the steps below provoke on purpose.
const expected = (text) =>
  (step.startsWith("viewer") && /status of 40[13]/.test(text)) || (step.startsWith("no role") && /status of 4\d\d/.test(text));
let current = null;
const navigations = [];

async function fresh() {
  const context = await browser.newContext({ viewport: { width: 1100, height: 900 } });
  const page = await context.newPage();
  current = page;
  page.on("console", (m) => {
    // The identity provider's own pages are not the console's (they ask
    // for web fonts this machine cannot reach).
    if (!page.url().startsWith(base)) return;
    if ((m.type() === "error" || m.type() === "warning") && !expected(m.text()))
      problems.push(`console.${m.type()} at ${step}: ${m.text()}`);
  });
  page.on("framenavigated", (f) => {
    if (f === page.mainFrame()) navigations.push(f.url());
  });
  page.on("requestfailed", (r) => navigations.push(`failed: ${r.url()} ${r.failure()?.errorText}`));
  page.on("pageerror", (e) => problems.push(`page error at ${step}: ${e.message}`));
  return { context, page };
}

async function localSignIn(page, name) {
  await page.goto(`${base}/ui/`);
  await page.getByTestId("local-signin").waitFor();
  await page.fill("#username", name);
  await page.fill("#password", password);
  await page.getByTestId("local-signin").locator("button[type=submit]").click();
  await page.getByTestId("who").waitFor();
  return page.getByTestId("who").innerText();
}

async function refund(page, order, amount) {
  await page.getByTestId("nav-run").click();
  await page.getByTestId("account").selectOption("shop");
  await page.getByTestId("operation").selectOption("refund");
  await page.locator("#root_order_ref").waitFor();
  await page.fill("#root_order_ref", order);
  await page.fill("#root_amount", amount);
  await page.getByRole("button", { name: "Review" }).click();
  await page.getByRole("button", { name: "Send refund" }).click();
  await page.getByTestId("envelope").waitFor();
  return page.locator("[data-testid=envelope] h2 .status").first().innerText();
}

try {
  step = "viewer signs in";
  let { context, page } = await fresh();
  seen.viewerWho = await localSignIn(page, viewer);
  seen.viewerRunOffered = await page.getByTestId("nav-run").count();
  seen.cookie = await page.evaluate(() => document.cookie);
  const cookies = await context.cookies();
  const session = cookies.find((c) => c.name === "payops_session");
  seen.sessionCookie = session ? { httpOnly: session.httpOnly, secure: session.secure, sameSite: session.sameSite } : null;
  step = "viewer sends a refund from the page anyway";
  seen.viewerApi = await page.evaluate(async () => {
    const me = await (await fetch("/v1/me", { credentials: "same-origin" })).json();
    const r = await fetch("/v1/accounts/shop/operations/refund", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": me.csrf_token, "Idempotency-Key": "viewer-try-1" },
      body: JSON.stringify({ order_ref: "ORD-1", amount: 100 }),
    });
    return { status: r.status, body: await r.json() };
  });
  step = "viewer signs out";
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.getByTestId("local-signin").waitFor();
  seen.afterSignOut = await page.evaluate(async () => (await fetch("/v1/me", { credentials: "same-origin" })).status);
  await context.close();

  step = "operator signs in and refunds";
  ({ context, page } = await fresh());
  seen.operatorWho = await localSignIn(page, operator);
  seen.operatorRefund = await refund(page, "ORD-1", "2,50");
  await context.close();

  step = "a person signs in through the identity provider";
  ({ context, page } = await fresh());
  await page.goto(`${base}/ui/`);
  await page.getByTestId("oidc-signin").click();
  await page.locator("input[name=login]").waitFor();
  seen.idpPage = new URL(page.url()).port;
  await page.fill("input[name=login]", "ayse");
  await page.fill("input[name=password]", "anything");
  await page.locator("button[type=submit]").click();
  // The provider asks to consent once.
  await page.waitForURL((u) => u.pathname.startsWith("/ui") || /interaction/.test(u.pathname));
  if (!page.url().startsWith(base)) await page.locator("button[type=submit]").click();
  await page.getByTestId("who").waitFor();
  seen.oidcWho = await page.getByTestId("who").innerText();
  seen.oidcRefund = await refund(page, "ORD-2", "3,00");
  await page.getByRole("button", { name: "Operations" }).click();
  await page.locator("tr", { hasText: "ORD-2" }).filter({ hasText: "refund" }).getByRole("link", { name: "refund" }).click();
  await page.getByTestId("actor").waitFor();
  seen.oidcDetailActor = await page.getByTestId("actor").innerText();
  seen.oidcActor = await page.evaluate(async () => {
    const list = await (await fetch("/v1/operations?account=shop&status=succeeded", { credentials: "same-origin" })).json();
    return list.operations.filter((o) => o.operation === "refund").map((o) => o.actor);
  });
  await context.close();

  step = "no role: groups that map to none";
  ({ context, page } = await fresh());
  await page.goto(`${base}/ui/`);
  await page.getByTestId("oidc-signin").click();
  await page.locator("input[name=login]").waitFor();
  await page.fill("input[name=login]", "nobody");
  await page.fill("input[name=password]", "anything");
  await page.locator("button[type=submit]").click();
  await page.waitForURL((u) => u.pathname.startsWith("/ui") || /interaction/.test(u.pathname));
  if (!page.url().startsWith(base)) await page.locator("button[type=submit]").click();
  await page.getByRole("alert").waitFor();
  seen.noRole = await page.getByRole("alert").innerText();
  await context.close();
  step = "done";
} catch (e) {
  problems.push(`failed at ${step}: ${e.message.split("\n")[0]}`);
  if (current) {
    seen.failedAt = current.url();
    const html = await current.content().catch(() => "");
    seen.failedPage = (html.match(/ERR_[A-Z_]+/) || [html.slice(0, 2000)])[0];
    seen.navigations = navigations;
  }
} finally {
  await browser.close();
}
console.log(JSON.stringify({ problems, seen }));
process.exit(problems.length ? 1 : 0);
