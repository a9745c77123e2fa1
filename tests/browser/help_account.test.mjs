// Browser test of the help centre's sign-in link and "my requests": the real `helpdesk` binary,
// a customer ticket seeded over the API, the sign-in link read from the outbox e-mail the server
// wrote, then sign in, open the ticket, reply — at a phone and a desktop viewport.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { startServer, newPage, check, VIEWPORTS } from "./lib.mjs";

/**
 * The sign-in link in the outbox e-mail to `to` (the text part may be quoted-printable or
 * base64). The server answers before its worker mails the link, so this waits for the mail.
 */
async function signInLink(s, to) {
  const dir = join(s.data, "outbox", "email");
  let mine = [];
  for (let i = 0; i < 150 && mine.length === 0; i++) {
    if (i > 0) await new Promise((r) => setTimeout(r, 100));
    if (!existsSync(dir)) continue;
    const mails = readdirSync(dir).filter((f) => f.endsWith(".eml")).map((f) => readFileSync(join(dir, f), "latin1"));
    mine = mails.filter((m) => new RegExp(`^To:.*${to.replace(/[.]/g, "\\.")}`, "mi").test(m));
  }
  assert.equal(mine.length, 1, `one e-mail to ${to}`);
  const raw = mine[0];
  // Candidates: the raw text with quoted-printable soft breaks removed, and every base64 block.
  const candidates = [raw.replace(/=\r?\n/g, "").replace(/=([0-9A-F]{2})/g, (_, h) => String.fromCharCode(parseInt(h, 16)))];
  for (const block of raw.split(/\r?\n\r?\n/)) {
    const compact = block.replace(/\s+/g, "");
    if (/^[A-Za-z0-9+/]+=*$/.test(compact) && compact.length > 40) {
      candidates.push(Buffer.from(compact, "base64").toString("utf8"));
    }
  }
  const re = new RegExp(`${s.base.replace(/[.]/g, "\\.")}/help/signin/([A-Za-z0-9_-]{43})`);
  for (const c of candidates) {
    const m = c.match(re);
    if (m) return m[0];
  }
  assert.fail("no sign-in link in the e-mail");
}

for (const [viewport, size] of VIEWPORTS) {
  test(`a customer signs in by e-mailed link and replies on ${viewport}`, { timeout: 120000 }, async () => {
    const s = await startServer();
    try {
      const created = await s.api("POST", "/api/v1/tickets", {
        subject: "My parcel never arrived", body: "Ordered two weeks ago, still nothing.", channel: "email",
        customer: { email: "ana@example.com", name: "Ana Silva" },
      });
      assert.equal(created.status, 201);
      const number = created.body.number;
      const { context, page } = await newPage(viewport, size);

      // Ask for the link.
      await page.goto(s.base + "/help/signin");
      await page.getByRole("heading", { name: "Sign in to follow your requests" }).waitFor();
      await check(page, "help-signin", viewport);
      await page.getByLabel("E-mail address").fill("ana@example.com");
      await page.getByRole("button", { name: "E-mail me a sign-in link" }).click();
      await page.getByRole("heading", { name: "Check your e-mail" }).waitFor();
      await check(page, "help-signin-sent", viewport);

      // Follow it from the e-mail: a page with a button (opening the link alone signs nobody in).
      const link = await signInLink(s, "ana@example.com");
      await page.goto(link);
      await check(page, "help-signin-link", viewport);
      await page.getByRole("button", { name: "Sign in" }).click();
      await page.waitForURL(s.base + "/help/tickets");
      await page.getByRole("heading", { name: "My requests" }).waitFor();
      assert.match(await page.locator("ul.requests").innerText(), /My parcel never arrived/);
      await check(page, "help-tickets", viewport);

      // Open the request and reply.
      await page.getByRole("link", { name: /My parcel never arrived/ }).click();
      await page.waitForURL(`${s.base}/help/tickets/${number}`);
      await page.getByRole("heading", { name: /My parcel never arrived/ }).waitFor();
      assert.match(await page.locator(".thread").innerText(), /Ordered two weeks ago/);
      await check(page, "help-ticket", viewport);
      await page.getByLabel("Your message").fill("Any news on the parcel? The tracking page is empty.");
      await page.getByRole("button", { name: "Send reply" }).click();
      await page.waitForURL(new RegExp(`/help/tickets/${number}#m-`));
      const thread = page.locator(".thread");
      assert.match(await thread.innerText(), /Any news on the parcel\? The tracking page is empty\./);
      assert.equal(await thread.locator("article.msg").count(), 2);
      await check(page, "help-ticket-replied", viewport);

      // The API sees the reply as the customer's.
      const view = await s.api("GET", `/api/v1/tickets/${number}`);
      const last = view.body.messages.at(-1);
      assert.equal(last.kind, "customer_message");
      assert.match(last.body_text, /Any news on the parcel/);

      // Resolved by the team: the customer reopens it.
      const resolved = await s.api("PATCH", `/api/v1/tickets/${number}`, { status: "resolved" });
      assert.equal(resolved.status, 200);
      await page.goto(`${s.base}/help/tickets/${number}`);
      assert.match(await page.locator("p.status").innerText(), /Resolved/);
      await check(page, "help-ticket-resolved", viewport);
      await page.getByRole("button", { name: "Reopen" }).click();
      await page.waitForURL(`${s.base}/help/tickets/${number}`);
      assert.match(await page.locator("p.status").innerText(), /Received/);
      assert.equal((await s.api("GET", `/api/v1/tickets/${number}`)).body.ticket.reopen_count, 1);

      // Sign out: the requests are no longer reachable.
      await page.getByRole("button", { name: "Sign out" }).click();
      await page.getByRole("heading", { name: "You are signed out" }).waitFor();
      await page.goto(s.base + "/help/tickets");
      await page.waitForURL(s.base + "/help/signin");
      await context.close();
    } finally {
      s.stop();
    }
  });
}
