// Shared by the browser tests: the real `helpdesk` binary on a temporary data dir, Debian's
// Chromium driven by playwright-core, and the checks every page gets (screenshot not blank,
// axe-core with no serious or critical violation, no horizontal scroll).
import { before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, mkdirSync, rmSync, readdirSync, readFileSync, statSync, existsSync } from "node:fs";
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
export const ARTIFACTS = join(here, "../artifacts");
mkdirSync(ARTIFACTS, { recursive: true });

export let browser;
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
export async function startServer() {
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
  // `data`: the server's data directory (e.g. its outbox of e-mail, `data/outbox/email/*.eml`).
  return { base, data, token, admin, api, stop };
}

export async function axeCheck(page, name) {
  await page.addScriptTag({ path: AXE });
  const result = await page.evaluate(async () => await window.axe.run(document, { resultTypes: ["violations"] }));
  const bad = result.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  assert.deepEqual(bad.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(" ")).slice(0, 3).join(" | ")}`), [], `axe on ${name}`);
}

export async function shot(page, name) {
  const file = join(ARTIFACTS, `${name}.png`);
  const png = await page.screenshot({ path: file, fullPage: true });
  // Not blank: a real page renders text and compresses to more than a few kB.
  assert.ok(png.length > 8000, `${name} screenshot looks blank (${png.length} bytes)`);
  const text = await page.evaluate(() => document.body.innerText.trim().length);
  assert.ok(text > 20, `${name} has visible text`);
}

export async function noHorizontalScroll(page, name) {
  const over = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(over <= 0, `${name} scrolls horizontally by ${over}px`);
}

export async function check(page, name, viewport) {
  await shot(page, `${viewport}-${name}`);
  await axeCheck(page, `${viewport} ${name}`);
  await noHorizontalScroll(page, `${viewport} ${name}`);
}

/** The two viewports every page is tested at. */
export const VIEWPORTS = [["phone", { width: 390, height: 844 }], ["desktop", { width: 1440, height: 900 }]];

/** A fresh browser context at a viewport (CSP bypassed only so axe-core can be injected). */
export async function newPage(viewport, size) {
  const context = await browser.newContext({ bypassCSP: true, viewport: size, isMobile: viewport === "phone", hasTouch: viewport === "phone" });
  const page = await context.newPage();
  page.setDefaultTimeout(15000);
  return { context, page };
}

/** Every `.eml` under the server's outbox, newest first. */
function outboxMail(s) {
  const dir = join(s.data, "outbox");
  const out = [];
  const walk = (d) => {
    if (!existsSync(d)) return;
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      const st = statSync(p);
      if (st.isDirectory()) walk(p);
      else if (name.endsWith(".eml")) out.push({ p, t: st.mtimeMs });
    }
  };
  walk(dir);
  return out.sort((a, b) => b.t - a.t).map((f) => f.p);
}

/** Undoes quoted-printable soft breaks and escapes, enough to read a link out of a mail. */
function unQuote(raw) {
  return raw.replace(/=\r?\n/g, "").replace(/=([0-9A-F]{2})/g, (_, h) => String.fromCharCode(parseInt(h, 16)));
}

/**
 * Signs a customer in the way a real one does: asks for a link at /help/signin, takes the
 * newest e-mail to them from the outbox, opens the link and presses "Sign in".
 */
export async function signIn(page, s, email) {
  const before = new Set(outboxMail(s));
  await page.goto(s.base + "/help/signin");
  await page.getByLabel(/e-?mail/i).first().fill(email);
  await page.getByRole("button", { name: /sign[- ]?in|send|link/i }).first().click();
  let link;
  for (let i = 0; i < 300 && !link; i++) {
    for (const f of outboxMail(s)) {
      if (before.has(f)) continue;
      const text = unQuote(readFileSync(f, "utf8"));
      if (!text.toLowerCase().includes(email.toLowerCase())) continue;
      const m = text.match(/https?:\/\/[^\s"'<>]*\/help\/signin\/[A-Za-z0-9._~%-]+/);
      if (m) { link = m[0]; break; }
    }
    if (!link) await new Promise((r) => setTimeout(r, 200));
  }
  assert.ok(link, `no sign-in link for ${email} in the outbox`);
  await page.goto(link);
  await page.getByRole("button", { name: /sign in/i }).click();
  await page.waitForURL((u) => !u.pathname.startsWith("/help/signin"));
}
