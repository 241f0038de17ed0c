#!/usr/bin/env node
// Opens a page in headless Chromium, waits until SELECTOR matches at least once, and prints one
// JSON line: each match's text, href and data-* attributes, the page's console errors, and a
// screenshot path when asked.
//
//   node tests/browser/page_items.mjs --url URL --selector 'CSS' [--shot FILE.png] [--local KEY=VALUE]
//
// --local puts KEY=VALUE into the page's localStorage before it loads (a returning viewer).

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { launchChromium } from './chromium.mjs';

const args = { url: null, selector: null, shot: null, local: null, chromium: process.env.CHROMIUM || '/usr/bin/chromium' };
for (let i = 2; i < process.argv.length; i += 2) {
  const key = process.argv[i].replace(/^--/, '');
  if (!(key in args)) { process.stderr.write(`unknown argument ${process.argv[i]}\n`); process.exit(2); }
  args[key] = process.argv[i + 1];
}
const out = { items: [], pageErrors: [], error: null };
const userDataDir = mkdtempSync(join(tmpdir(), 'oxcast-items-'));
let context;
try {
  context = await launchChromium(args.chromium, userDataDir, [], { viewport: { width: 1200, height: 900 } });
  const page = context.pages()[0] ?? (await context.newPage());
  page.on('pageerror', (e) => out.pageErrors.push(String(e && e.message)));
  page.on('console', (m) => { if (m.type() === 'error') out.pageErrors.push(m.text()); });
  if (args.local) {
    const [key, value] = [args.local.slice(0, args.local.indexOf('=')), args.local.slice(args.local.indexOf('=') + 1)];
    await context.addInitScript(([k, v]) => { try { localStorage.setItem(k, v); } catch (_) {} }, [key, value]);
  }
  await page.goto(args.url);
  await page.waitForSelector(args.selector, { timeout: 15000 });
  out.items = await page.$$eval(args.selector, (els) => els.map((el) => ({
    text: el.textContent.trim(), href: el.getAttribute('href'), data: { ...el.dataset } })));
  if (args.shot) await page.screenshot({ path: args.shot, fullPage: true });
} catch (e) {
  out.error = String((e && e.stack) || e);
} finally {
  if (context) await context.close().catch(() => {});
  try { rmSync(userDataDir, { recursive: true, force: true }); } catch (_) {}
}
process.stdout.write(JSON.stringify(out) + '\n');
process.exitCode = out.error ? 1 : 0;
