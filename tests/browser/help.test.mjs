// Browser tests of the help centre's knowledge base and request form: the real `helpdesk`
// binary on a temporary data dir, Debian's Chromium, at a phone and a desktop viewport.
// Search and read an article, vote; type a request, see a suggested article, send it, see the
// confirmation. Every page gets check(): screenshot, axe-core, no horizontal scroll.
import { test } from "node:test";
import assert from "node:assert/strict";
import { startServer, check, newPage, VIEWPORTS } from "./lib.mjs";

async function publish(s, article) {
  const sup = s.token("supervisor", "sup@example.com");
  const r = await s.api("POST", "/api/v1/kb/articles", article);
  assert.equal(r.status, 201, JSON.stringify(r.body));
  const p = await s.api("POST", `/api/v1/kb/articles/${r.body.id}/publish`, {}, sup);
  assert.equal(p.status, 200, JSON.stringify(p.body));
  return r.body.id;
}

async function seed(s) {
  const related = await publish(s, {
    title: "Enable two-factor sign-in", summary: "Protect your account with a second step.",
    body: "Open **Security** and turn on two-factor sign-in.", audiences: ["customers"], topic: ["Account", "Security"],
  });
  await publish(s, {
    title: "Reset your password", summary: "Get back into your account in two minutes.",
    body: "## Steps\n\n1. Click **Forgot password** on the sign-in page.\n2. Follow the link we e-mail you.\n\nThe link works for one hour.",
    audiences: ["customers"], topic: ["Account"], tags: ["password", "login"],
    videos: ["https://www.youtube.com/watch?v=dQw4w9WgXcQ"], related: [related],
  });
  await publish(s, {
    title: "Download your invoices", summary: "Every invoice as a PDF.",
    body: "Invoices are under **Billing → Invoices**; each has a PDF download.", audiences: ["customers"], topic: ["Billing"],
  });
  await publish(s, {
    title: "Escalation desk numbers", summary: "Team only.", body: "Internal escalation contacts for password cases.",
    audiences: ["internal"], topic: ["Account"],
  });
}

for (const [viewport, size] of VIEWPORTS) {
  test(`help centre: search, read, vote and send a request on ${viewport}`, { timeout: 120000 }, async () => {
    const s = await startServer();
    const { context, page } = await newPage(viewport, size);
    try {
      await seed(s);

      await page.goto(s.base + "/help");
      await page.getByRole("heading", { name: "How can we help?" }).waitFor();
      assert.equal(await page.getByText("Escalation desk").count(), 0, "internal article on the home page");
      await check(page, "help-home", viewport);

      await page.getByLabel("Search the help centre").fill("forgot password");
      await page.getByRole("button", { name: "Search" }).click();
      await page.waitForURL(/\/help\/search\?q=/);
      const result = page.getByRole("link", { name: "Reset your password" });
      await result.waitFor();
      assert.ok(await page.locator(".snippet mark").count() > 0, "highlighted snippet");
      assert.equal(await page.getByText("Escalation desk").count(), 0, "internal article in results");
      await check(page, "help-search", viewport);

      await result.click();
      await page.getByRole("heading", { level: 1, name: "Reset your password" }).waitFor();
      const frame = page.locator(".video iframe");
      assert.equal(await frame.getAttribute("src"), "https://www.youtube-nocookie.com/embed/dQw4w9WgXcQ");
      assert.ok((await frame.getAttribute("title")).includes("Reset your password"));
      await page.getByRole("link", { name: "Enable two-factor sign-in" }).waitFor();
      await check(page, "help-article", viewport);

      // The keyboard, not the mouse: headless Chromium may route a click just after scrolling to
      // the (cross-origin, offline here) video frame that was there before the scroll.
      const four = page.getByLabel("4 stars");
      await four.focus();
      await page.keyboard.press("Space");
      assert.ok(await four.isChecked(), "4 stars chosen");
      await page.getByLabel("Comment (optional)").fill("Clear steps, thanks.");
      await page.getByRole("button", { name: "Yes, it helped" }).press("Enter");
      await page.waitForURL(/voted=1/);
      await page.getByText("Thank you for your feedback").waitFor();

      await page.getByRole("link", { name: "Contact us" }).first().click();
      await page.waitForURL(/\/help\/requests\/new/);
      await page.getByRole("heading", { name: "Contact us" }).waitFor();
      await page.getByLabel("Your name *").fill("Ana Souza");
      await page.getByLabel("E-mail address *").fill("ana@example.com");
      await page.getByLabel("Subject *").pressSequentially("I forgot my password", { delay: 20 });
      const suggestion = page.locator("#suggestions a", { hasText: "Reset your password" });
      await suggestion.waitFor();
      await page.getByText("These articles might help").waitFor();
      await page.getByLabel("Description *").fill("The reset e-mail never arrives, I checked spam too.");
      await check(page, "help-request-form", viewport);

      // Opening the suggestion (a new tab) is remembered for the deflection count.
      const [popup] = await Promise.all([context.waitForEvent("page"), suggestion.click()]);
      await popup.waitForLoadState();
      assert.match(await popup.title(), /Reset your password/);
      await popup.close();
      const remembered = await page.evaluate(() => JSON.parse(sessionStorage.getItem("hd-request")));
      assert.equal(remembered.opened.length, 1);

      await page.getByRole("button", { name: "Send request" }).click();
      await page.waitForURL(/\/help\/requests\/sent\?t=/);
      await page.getByRole("heading", { name: "Request sent" }).waitFor();
      const number = await page.locator(".sent strong").innerText();
      assert.match(number, /^HD-\d+$/);
      await check(page, "help-request-sent", viewport);

      const t = await s.api("GET", `/api/v1/tickets/${number}`);
      assert.equal(t.status, 200);
      assert.equal(t.body.ticket.channel, "web");
      assert.equal(t.body.ticket.customer.email, "ana@example.com");
      // Sent, so nothing was deflected, and the form's session is over.
      const stats = await s.api("GET", "/api/v1/kb/stats");
      assert.equal(stats.body.totals.deflections, 0);
      assert.equal(await page.evaluate(() => sessionStorage.getItem("hd-request")), null);

      // A visitor who opens a suggestion and leaves without sending counts as one deflection
      // (the form's script reports it with a beacon as the page goes away).
      await page.goto(s.base + "/help/requests/new");
      await page.getByLabel("Subject *").pressSequentially("Where is my invoice PDF", { delay: 20 });
      const invoice = page.locator("#suggestions a", { hasText: "Download your invoices" });
      await invoice.waitFor();
      const [tab] = await Promise.all([context.waitForEvent("page"), invoice.click()]);
      await tab.close();
      await page.goto(s.base + "/help");
      let deflections = 0;
      for (let i = 0; i < 50 && deflections === 0; i++) {
        deflections = (await s.api("GET", "/api/v1/kb/stats")).body.totals.deflections;
        if (deflections === 0) await new Promise((r) => setTimeout(r, 200));
      }
      assert.equal(deflections, 1, "the beacon recorded one deflection");
    } finally {
      await context.close();
      s.stop();
    }
  });
}
