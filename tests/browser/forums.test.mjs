// Browser test of the help centre's community forums at a phone and a desktop viewport: a
// customer posts a topic, another answers and votes, the author accepts the answer and votes;
// every page passes check() (screenshot, axe-core, no horizontal scroll).
// Customers sign in through the real e-mailed link (lib.mjs `signIn`); links go only to known
// customers, so both are created first.
import { test } from "node:test";
import assert from "node:assert/strict";
import { startServer, check, newPage, signIn, VIEWPORTS } from "./lib.mjs";

for (const [viewport, size] of VIEWPORTS) {
  test(`community forums on ${viewport}`, { timeout: 120000 }, async () => {
    const s = await startServer();
    try {
      for (const [email, name] of [["ana@example.com", "Ana Pereira"], ["bob@example.com", "Bob Lee"]]) {
        const c = await s.api("POST", "/api/v1/customers", { email, name });
        assert.equal(c.status, 201, JSON.stringify(c.body));
      }
      const r = await s.api("POST", "/api/v1/forums/categories",
        { slug: "printing", name: "Printing", description: "Printers, drivers and paper jams", order: 1 });
      assert.equal(r.status, 201);

      // Ana asks.
      const ana = await newPage(viewport, size);
      await signIn(ana.page, s, "ana@example.com");
      await ana.page.goto(s.base + "/help/community");
      await ana.page.getByRole("heading", { name: "Community" }).waitFor();
      await check(ana.page, "community-home", viewport);
      await ana.page.getByRole("link", { name: "Printing" }).click();
      await ana.page.getByRole("heading", { name: "Printing" }).waitFor();
      await check(ana.page, "community-category", viewport);
      await ana.page.getByRole("link", { name: "Start a topic" }).click();
      await ana.page.getByLabel("Your public name").fill("Ana P");
      await ana.page.getByLabel("Title").fill("Printer offline after the update");
      await ana.page.getByLabel("Details").fill("Since version 2.0 my printer shows **offline**.");
      await ana.page.getByRole("button", { name: "Post topic" }).click();
      await ana.page.waitForURL(/\/help\/community\/topics\/top_/);
      const topicUrl = ana.page.url();
      await ana.page.getByRole("heading", { name: "Printer offline after the update" }).waitFor();

      // Bob answers and finds the question useful.
      const bob = await newPage(viewport, size);
      await signIn(bob.page, s, "bob@example.com");
      await bob.page.goto(topicUrl);
      await bob.page.getByLabel("Your public name").fill("Bob");
      await bob.page.getByLabel("Reply", { exact: true }).fill("Restart the print spooler, then re-add the printer.");
      await bob.page.getByRole("button", { name: "Post reply" }).click();
      await bob.page.getByText("Restart the print spooler").waitFor();
      const topicVote = bob.page.locator("article.topic form.vote button");
      assert.equal(await topicVote.getAttribute("aria-pressed"), "false");
      await topicVote.click();
      await bob.page.waitForLoadState();
      assert.equal(await bob.page.locator("article.topic form.vote button").getAttribute("aria-pressed"), "true");

      // Ana accepts Bob's answer and votes for it; the accepted answer leads the replies.
      await ana.page.goto(topicUrl);
      await ana.page.getByRole("button", { name: "Accept as answer" }).click();
      await ana.page.getByText("Accepted answer").waitFor();
      const answerVote = ana.page.locator("article.post form.vote button").first();
      await answerVote.click();
      await ana.page.waitForLoadState();
      assert.equal(await ana.page.locator("article.post form.vote button").first().getAttribute("aria-pressed"), "true");
      assert.match(await ana.page.locator("article.post").first().innerText(), /Accepted answer[\s\S]*Bob[\s\S]*1 vote/);
      assert.match(await ana.page.locator("article.topic").innerText(), /1 vote/);
      await check(ana.page, "community-topic", viewport);

      await ana.context.close();
      await bob.context.close();
    } finally {
      s.stop();
    }
  });
}

// The console's moderation page needs no customer sign-in: topics and a report come in over
// the API (the team may post too; anyone signed in may report).
for (const [viewport, size] of VIEWPORTS) {
  test(`community moderation in the console on ${viewport}`, { timeout: 120000 }, async () => {
    const s = await startServer();
    try {
      assert.equal((await s.api("POST", "/api/v1/forums/categories", { slug: "printing", name: "Printing" })).status, 201);
      const agentToken = s.token("agent", "ana@example.com");
      const topic = await s.api("POST", "/api/v1/forums/categories/printing/topics",
        { title: "Known issue: printers offline after 2.0", body: "We are working on it." }, agentToken);
      assert.equal(topic.status, 201);
      const reply = await s.api("POST", `/api/v1/forums/topics/${topic.body.id}/posts`, { body: "Cheap watches here" }, s.admin);
      assert.equal(reply.status, 201);
      const rep = await s.api("POST", `/api/v1/forums/topics/${topic.body.id}/reports`, { post: reply.body.id, reason: "spam" }, agentToken);
      assert.equal(rep.status, 200);

      const { context, page } = await newPage(viewport, size);
      await page.goto(s.base + "/app/login");
      await page.getByLabel("Access token").fill(agentToken);
      await page.getByRole("button", { name: "Sign in" }).click();
      await page.waitForURL(s.base + "/app");
      await page.getByRole("link", { name: "Community" }).click();
      await page.getByRole("heading", { name: "Reports to review (1)" }).waitFor();
      await check(page, "console-community", viewport);
      await page.getByRole("link", { name: "Known issue: printers offline after 2.0" }).first().click();
      await page.getByRole("button", { name: "Hide reply" }).click();
      await page.getByRole("button", { name: "Unhide reply" }).waitFor();
      await page.getByRole("button", { name: "Resolve reports" }).click();
      await page.getByRole("button", { name: "Pin" }).click();
      await page.getByRole("button", { name: "Unpin" }).waitFor();
      assert.match(await page.locator("main").innerText(), /Moderation history[\s\S]*Hide[\s\S]*Resolve reports[\s\S]*Pin/);
      await check(page, "console-community-topic", viewport);
      await context.close();
    } finally {
      s.stop();
    }
  });
}
