// Browser tests of the agent console: the real `helpdesk` binary on a temporary data dir,
// Debian's Chromium driven by playwright-core, at a phone and a desktop viewport.
// Run by scripts/test.sh (HELPDESK_BIN points at the built binary).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { createRequire } from "node:module";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const AXE = require.resolve("axe-core/axe.min.js");
const BIN = process.env.HELPDESK_BIN || join(here, "../../target/debug/helpdesk");
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const ARTIFACTS = join(here, "../artifacts");
mkdirSync(ARTIFACTS, { recursive: true });

let browser;
before(async () => {
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", "--disable-quic"],
  });
});
after(async () => { await browser?.close(); });

/** Starts a server on a free port with a fresh data dir; resolves with its URL and helpers. */
async function startServer() {
  const data = mkdtempSync(join(tmpdir(), "helpdesk-ui-"));
  const child = spawn(BIN, ["serve", "--data", data, "--listen", "127.0.0.1:0"], { stdio: ["ignore", "pipe", "pipe"] });
  const base = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("server did not start")), 20000);
    let out = "";
    child.stdout.on("data", (chunk) => {
      out += chunk;
      const m = out.match(/listening on (http:\/\/127\.0\.0\.1:\d+)/);
      if (m) { clearTimeout(timer); resolve(m[1]); }
    });
    child.on("exit", (code) => reject(new Error(`server exited ${code}`)));
  });
  const token = (role, email) => execFileSync(BIN, ["token", "--data", data, "--role", role, "--agent", email]).toString().trim();
  const admin = token("admin", "admin@example.com");
  const api = async (method, path, body, tok = admin, headers = {}) => {
    const r = await fetch(base + path, {
      method, headers: { authorization: `Bearer ${tok}`, "content-type": "application/json", ...headers },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await r.text();
    return { status: r.status, body: text ? JSON.parse(text) : null };
  };
  const stop = () => { child.kill("SIGTERM"); rmSync(data, { recursive: true, force: true }); };
  return { base, token, admin, api, stop };
}

async function seed(s) {
  for (const [email, name] of [["ana@example.com", "Ana Silva"], ["bob@example.com", "Bob Stone"]]) {
    // Offline: the routing worker then leaves the seeded tickets in the queue (new, unassigned)
    // for this test to assign and move by hand.
    const r = await s.api("POST", "/api/v1/agents", { email, name, role: "agent", status: "offline" });
    assert.equal(r.status, 201);
  }
  await s.api("POST", "/api/v1/departments", { id: "billing", name: "Billing" });
  const subjects = [["Refund for March invoice", "high"], ["App crashes on launch", "urgent"], ["Change my e-mail address", "low"],
    ["Password reset loop", "high"], ["Dark mode request", "low"]];
  for (const [subject, priority] of subjects) {
    const r = await s.api("POST", "/api/v1/tickets", { subject, body: "Details of the problem.", priority, channel: "email",
      customer: { email: `${subject.split(" ")[0].toLowerCase()}@example.com`, name: "Carla Diaz" } });
    assert.equal(r.status, 201);
  }
}

async function axeCheck(page, name) {
  await page.addScriptTag({ path: AXE });
  const result = await page.evaluate(async () => await window.axe.run(document, { resultTypes: ["violations"] }));
  const bad = result.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  assert.deepEqual(bad.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(" ")).slice(0, 3).join(" | ")}`), [], `axe on ${name}`);
}

async function shot(page, name) {
  const file = join(ARTIFACTS, `${name}.png`);
  const png = await page.screenshot({ path: file, fullPage: true });
  // Not blank: a real page renders text and compresses to more than a few kB.
  assert.ok(png.length > 8000, `${name} screenshot looks blank (${png.length} bytes)`);
  const text = await page.evaluate(() => document.body.innerText.trim().length);
  assert.ok(text > 20, `${name} has visible text`);
}

async function noHorizontalScroll(page, name) {
  const over = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(over <= 0, `${name} scrolls horizontally by ${over}px`);
}

async function check(page, name, viewport) {
  await shot(page, `${viewport}-${name}`);
  await axeCheck(page, `${viewport} ${name}`);
  await noHorizontalScroll(page, `${viewport} ${name}`);
}

for (const [viewport, size] of [["phone", { width: 390, height: 844 }], ["desktop", { width: 1440, height: 900 }]]) {
  test(`console works end to end on ${viewport}`, { timeout: 120000 }, async () => {
    const s = await startServer();
    try {
      await seed(s);
      // bypassCSP only so axe-core can be injected; the console's CSP is checked in the Rust tests.
      const context = await browser.newContext({ bypassCSP: true, viewport: size, isMobile: viewport === "phone", hasTouch: viewport === "phone" });
      const page = await context.newPage();
      page.setDefaultTimeout(15000);

      // Sign in: the console redirects to the sign-in page and back.
      await page.goto(s.base + "/app");
      assert.match(page.url(), /\/app\/login/);
      await check(page, "login", viewport);
      await page.getByLabel("Access token").fill(s.token("agent", "ana@example.com"));
      await page.getByRole("button", { name: "Sign in" }).click();
      await page.waitForURL(s.base + "/app");
      await page.getByRole("heading", { name: "Dashboard" }).waitFor();
      assert.equal(await page.locator(".card").count(), 4);
      assert.match(await page.locator(".card").first().innerText(), /Open tickets\s+5/);
      await check(page, "dashboard", viewport);
      // My availability toggle.
      await page.getByRole("button", { name: "Busy" }).click();
      await page.waitForURL(s.base + "/app");
      assert.equal(await page.getByRole("button", { name: "Busy" }).getAttribute("aria-pressed"), "true");

      // Create a ticket.
      await page.getByRole("link", { name: "Create ticket" }).click();
      await page.getByLabel("Customer e-mail").fill("dora@example.com");
      await page.getByLabel("Subject").fill("Cannot download my invoice");
      await page.getByLabel("Description").fill("The download button does nothing.");
      await page.getByLabel("Priority").selectOption("high");
      await check(page, "create", viewport);
      await page.getByRole("button", { name: "Create ticket" }).click();
      await page.waitForURL(/\/app\/tickets\/HD-6$/);
      await page.getByRole("heading", { name: "Cannot download my invoice" }).waitFor();

      // Filter the list: open + high priority.
      await page.goto(s.base + "/app/tickets");
      const filters = page.getByRole("search", { name: "Filter tickets" });
      await filters.getByLabel("Status").selectOption("open");
      await filters.getByLabel("Priority").selectOption("high");
      await page.getByRole("button", { name: "Apply filters" }).click();
      await page.waitForURL(/priority=high/);
      const rows = page.locator("table.tickets tbody tr");
      assert.equal(await rows.count(), 3, "three open high-priority tickets");
      await check(page, "list-filtered", viewport);

      // Select three and bulk-assign to Bob.
      await page.goto(s.base + "/app/tickets?status=open");
      const boxes = page.locator("input.rowsel");
      const chosen = [];
      for (let i = 0; i < 3; i++) {
        await boxes.nth(i).check();
        chosen.push(await boxes.nth(i).getAttribute("value"));
      }
      assert.equal(await page.locator("#selectall").evaluate((el) => el.indeterminate), true, "select-all shows a partial selection");
      await page.locator("#bulkbar").waitFor({ state: "visible" });
      assert.equal(await page.locator("#selcount").innerText(), "3 selected");
      await check(page, "list-selected", viewport);
      if (viewport === "phone") {
        // The narrowest phones in use: still no sideways scrolling.
        await page.setViewportSize({ width: 360, height: 740 });
        await noHorizontalScroll(page, "list at 360px");
        await page.setViewportSize(size);
      }
      await page.getByLabel("Assign to").selectOption("bob@example.com");
      await page.getByRole("button", { name: "Assign", exact: true }).click();
      await page.locator("#bulk-outcome").waitFor();
      assert.match(await page.locator("#bulk-outcome").innerText(), /3 updated/);
      // (The routing worker may have given Bob other tickets meanwhile: check the chosen three.)
      for (const id of chosen) {
        const t = (await s.api("GET", `/api/v1/tickets/${id}`)).body.ticket;
        assert.equal(t.assignee, "bob@example.com", `${t.number} assigned to Bob`);
      }

      // Board: drag an assigned card to "In progress" (allowed), and try an illegal move.
      await page.goto(s.base + "/app/board");
      const card = page.locator('.column[data-status="assigned"] .bcard').first();
      const number = await card.getAttribute("data-number");
      if (viewport === "desktop") {
        // Mouse: drag and drop (HTML5 DnD, posted by app.js).
        await card.dragTo(page.locator('.column[data-status="in_progress"]'));
        await page.locator("#board-msg.flash-ok").waitFor();
        assert.match(await page.locator("#board-msg").innerText(), new RegExp(`${number} moved to In progress`));
      } else {
        // Touch: the card's own "Move to" control (works without JavaScript too).
        await card.locator("select").selectOption("in_progress");
        await card.getByRole("button", { name: "Move" }).click();
        await page.locator(".flash-ok").waitFor();
        assert.match(await page.locator(".flash-ok").innerText(), new RegExp(`Moved ${number}`));
      }
      const moved = (await s.api("GET", `/api/v1/tickets/${number}`)).body.ticket;
      assert.equal(moved.status, "in_progress");
      const newCard = page.locator('.column[data-status="new"] .bcard').first();
      await newCard.locator("select").selectOption("in_progress");
      await newCard.getByRole("button", { name: "Move" }).click();
      await page.locator(".flash-error").waitFor();
      assert.match(await page.locator(".flash-error").innerText(), /needs an assignee/);
      await check(page, "board", viewport);

      // Ticket detail: reply, then an internal note.
      await page.goto(s.base + `/app/tickets/${number}`);
      await page.getByLabel("Reply").fill("We are on it — thanks for your patience.");
      await page.getByRole("button", { name: "Send" }).click();
      await page.locator(".msg-reply").waitFor();
      await page.getByLabel("Reply").fill("Escalate if not fixed by Friday.");
      await page.getByLabel("Internal note (the customer does not see it)").check();
      await page.getByRole("button", { name: "Send" }).click();
      await page.locator(".msg-note").waitFor();
      assert.match(await page.locator(".msg-note").innerText(), /only the team sees this/);
      await check(page, "detail", viewport);

      // A concurrent edit: someone changes the ticket after this page was loaded → 409 shown.
      const edit = await s.api("PATCH", `/api/v1/tickets/${number}`, { tags: ["changed-elsewhere"] });
      assert.equal(edit.status, 200);
      await page.getByLabel("Priority").selectOption("low");
      await page.getByRole("button", { name: "Save changes" }).click();
      await page.locator("#conflict").waitFor();
      assert.match(await page.locator("#conflict").innerText(), /Someone else changed this ticket/);
      await check(page, "conflict", viewport);
      await page.getByRole("link", { name: "Reload the ticket" }).click();
      await page.waitForURL(new RegExp(`/app/tickets/${number}$`));
      assert.equal(await page.getByLabel("Tags (comma-separated)").inputValue(), "changed-elsewhere");

      await context.close();
    } catch (e) {
      for (const c of browser.contexts()) for (const p of c.pages()) await p.screenshot({ path: join(ARTIFACTS, `${viewport}-FAILED.png`), fullPage: true }).catch(() => {});
      throw e;
    } finally {
      s.stop();
    }
  });
}
