#!/usr/bin/env node
// Logs into the studio, creates a stream, and reads back what the page shows, without reloads.
//
//   node tests/browser/studio.mjs --url http://127.0.0.1:PORT --name NAME --password PW
//        --stream NAME --title TITLE [--screenshot PATH]
//
// Prints one JSON line: {loggedIn, navigations, key, rows, error, accessibleNames}. Exit 0 when
// the stream was created and listed on the same page.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { launchChromium } from './chromium.mjs';

const args = { url: null, name: null, password: null, stream: null, title: '', screenshot: '', chromium: process.env.CHROMIUM || '/usr/bin/chromium' };
for (let i = 2; i < process.argv.length; i += 2) {
  const key = process.argv[i].replace(/^--/, '');
  if (!(key in args)) {
    process.stderr.write(`unknown argument ${process.argv[i]}\n`);
    process.exit(2);
  }
  args[key] = process.argv[i + 1];
}

const userDataDir = mkdtempSync(join(tmpdir(), 'oxcast-studio-'));
let context;
const out = { loggedIn: false, wrongPasswordMessage: null, navigations: 0, key: null, rows: [], error: null, unlabelled: [] };
try {
  context = await launchChromium(args.chromium, userDataDir, [], { viewport: { width: 1100, height: 760 } });
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(15000);
  await page.goto(args.url + '/studio');
  // Logged out: the studio sends us to the login form.
  await page.waitForSelector('#login');
  await page.fill('#name', args.name);
  await page.fill('#password', 'not-the-password');
  await page.click('#login button');
  await page.waitForFunction(() => document.getElementById('login-error').textContent.length > 0);
  out.wrongPasswordMessage = await page.textContent('#login-error');
  await page.fill('#password', args.password);
  await Promise.all([page.waitForURL('**/studio'), page.click('#login button')]);
  await page.waitForSelector('#streams-status:not(:text("Loading…"))');
  out.loggedIn = true;

  // From here on, every action must work without a page load.
  page.on('framenavigated', (frame) => { if (frame === page.mainFrame()) out.navigations += 1; });
  await page.fill('#stream-name', args.stream);
  await page.fill('#stream-title', args.title);
  await page.click('#new-stream button');
  await page.waitForSelector('#key-box:not(.hidden)');
  out.key = await page.textContent('#key-value');
  await page.waitForSelector(`tr[data-name="${args.stream}"]`);
  out.rows = await page.$$eval('#streams tr', (trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent.trim())));
  // Every form control has an accessible name.
  out.unlabelled = await page.$$eval('input:not([type=hidden]), button, textarea, select', (els) =>
    els.filter((el) => {
      const label = el.labels && el.labels.length > 0;
      return !label && !el.getAttribute('aria-label') && !el.textContent.trim();
    }).map((el) => el.outerHTML.slice(0, 80)));
  if (args.screenshot) await page.screenshot({ path: args.screenshot, fullPage: true });
} catch (e) {
  out.error = String(e && e.message || e);
} finally {
  if (context) await context.close().catch(() => {});
  rmSync(userDataDir, { recursive: true, force: true });
}
process.stdout.write(JSON.stringify(out) + '\n');
process.exit(out.key && out.rows.length > 0 ? 0 : 1);
