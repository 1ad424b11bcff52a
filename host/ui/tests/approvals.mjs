// Four eyes in the operator console, in a real headless Chromium
// (Playwright, Debian's /usr/bin/chromium) against `payops serve` with an
// approval rule: one approver requests a refund above the threshold (it
// waits, nothing sent), is not offered a decision on it and is refused by
// the API when trying anyway; a second approver approves it from the
// Approvals view and it is sent.
//
//   node tests/approvals.mjs BASE_URL REQUESTER APPROVER PASSWORD
//
// Prints one JSON line with what it saw; exits non-zero on any failure.
import { chromium } from "playwright-core";

const [base, requester, approver, password, shots] = process.argv.slice(2);
if (!base || !requester || !approver || !password) {
  console.error("usage: node tests/approvals.mjs BASE_URL REQUESTER APPROVER PASSWORD [SCREENSHOT_DIR]");
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
const expected = (text) => step.startsWith("the requester tries") && /status of 403/.test(text);

async function signedIn(name) {
  const context = await browser.newContext({ viewport: { width: 1200, height: 900 } });
  const page = await context.newPage();
  page.on("console", (m) => {
    if ((m.type() === "error" || m.type() === "warning") && !expected(m.text()))
      problems.push(`console.${m.type()} at ${step}: ${m.text()}`);
  });
  page.on("pageerror", (e) => problems.push(`page error at ${step}: ${e.message}`));
  await page.goto(`${base}/ui/`);
  await page.getByTestId("local-signin").waitFor();
  await page.fill("#username", name);
  await page.fill("#password", password);
  await page.getByTestId("local-signin").locator("button[type=submit]").click();
  await page.getByTestId("who").waitFor();
  return { context, page };
}

try {
  step = "the requester asks for a refund above the threshold";
  let { context, page } = await signedIn(requester);
  await page.getByTestId("nav-run").click();
  await page.getByTestId("account").selectOption("shop");
  await page.getByTestId("operation").selectOption("refund");
  await page.locator("#root_order_ref").waitFor();
  await page.fill("#root_order_ref", "ORD-1");
  await page.fill("#root_amount", "600,00");
  await page.getByRole("button", { name: "Review" }).click();
  await page.getByRole("button", { name: "Send refund" }).click();
  await page.getByTestId("waiting").waitFor();
  seen.approvalId = await page.getByTestId("approval-id").innerText();
  seen.waiting = await page.getByTestId("waiting").innerText();

  step = "the requester sees the queue";
  await page.getByTestId("nav-approvals").click();
  await page.getByTestId("approval-row").first().waitFor();
  seen.requesterRows = await page.getByTestId("approval-row").allInnerTexts();
  seen.requesterApproveButtons = await page.getByRole("button", { name: "Approve" }).count();
  step = "the requester tries to approve through the API";
  seen.requesterApi = await page.evaluate(async (id) => {
    const me = await (await fetch("/v1/me", { credentials: "same-origin" })).json();
    const r = await fetch(`/v1/approvals/${id}/approve`, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": me.csrf_token },
      body: "{}",
    });
    return { status: r.status, body: await r.json() };
  }, seen.approvalId);
  await context.close();

  step = "a second approver approves";
  ({ context, page } = await signedIn(approver));
  await page.getByTestId("nav-approvals").click();
  await page.getByTestId("approval-row").first().waitFor();
  if (shots) await page.screenshot({ path: `${shots}/console-approvals.png`, fullPage: true });
  await page.getByTestId("approval-row").filter({ hasText: "ORD-1" }).getByRole("button", { name: "Approve" }).click();
  await page.getByTestId("decision-note").waitFor();
  seen.decision = await page.getByTestId("decision-note").innerText();
  await context.close();
  step = "done";
} catch (e) {
  problems.push(`failed at ${step}: ${e.message.split("\n")[0]}`);
} finally {
  await browser.close();
}
console.log(JSON.stringify({ problems, seen }));
process.exit(problems.length ? 1 : 0);
