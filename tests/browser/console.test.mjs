// Browser tests of the agent console: the real `helpdesk` binary on a temporary data dir,
// Debian's Chromium driven by playwright-core, at a phone and a desktop viewport.
// Run by scripts/test.sh (HELPDESK_BIN points at the built binary).
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { browser, startServer, check, noHorizontalScroll, ARTIFACTS } from "./lib.mjs";

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
