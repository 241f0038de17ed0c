#!/usr/bin/env node
// The search page as a viewer uses it: typing (results and suggestions follow each key, with
// matched words marked), a filter, the keyboard through the suggestions to a video page, a shared
// URL that restores the search. Counts navigations while typing (there must be none) and lists
// controls without an accessible name.
//
//   node tests/browser/search_page.mjs --url URL --type TEXT --expect TITLE [--shot FILE.png]
//
// Prints one JSON line; exit 0 when every step finished.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { launchChromium } from './chromium.mjs';

const args = { url: null, type: null, expect: null, shot: null, chromium: process.env.CHROMIUM || '/usr/bin/chromium' };
for (let i = 2; i < process.argv.length; i += 2) {
  const key = process.argv[i].replace(/^--/, '');
  if (!(key in args)) { process.stderr.write(`unknown argument ${process.argv[i]}\n`); process.exit(2); }
  args[key] = process.argv[i + 1];
}

const out = { step: null, pageErrors: [], unlabelled: null, navigationsWhileTyping: null, firstTitles: null, marked: null,
  suggestions: null, liveOnly: null, opened: null, restored: null, error: null, done: false };
const userDataDir = mkdtempSync(join(tmpdir(), 'oxcast-search-'));
let context;

const titles = (page) => page.$$eval('#videos h3 a', (as) => as.map((a) => a.textContent.trim()));

try {
  context = await launchChromium(args.chromium, userDataDir, [], { viewport: { width: 1100, height: 900 } });
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(15000);
  page.on('pageerror', (e) => out.pageErrors.push(String(e && e.message)));
  page.on('console', (m) => { if (m.type() === 'error') out.pageErrors.push(m.text()); });
  page.on('response', (r) => { if (r.status() >= 400) out.pageErrors.push(r.status() + ' ' + r.url()); });

  out.step = 'open';
  await page.goto(args.url + '/search');
  await page.waitForFunction(() => document.getElementById('status').textContent.match(/video|Nothing/));
  out.unlabelled = await page.$$eval('input, button:not([hidden]), select', (els) =>
    els.filter((el) => !(el.labels && el.labels.length) && !el.getAttribute('aria-label') && !el.textContent.trim())
      .map((el) => el.outerHTML.slice(0, 100)));
  out.firstTitles = await titles(page);

  out.step = 'type';
  // Page loads, not history updates (the page keeps the search in its URL with replaceState).
  let navigations = 0;
  const onNav = () => { navigations += 1; };
  page.on('load', onNav);
  await page.click('#q');
  await page.keyboard.type(args.type, { delay: 60 });
  // Every title shown marks what matched, and the expected one is among them.
  await page.waitForFunction((want) => {
    const shown = [...document.querySelectorAll('#videos h3 a')];
    return shown.length > 0 && shown.every((a) => a.querySelector('mark')) && shown.some((a) => a.textContent.trim() === want);
  }, args.expect);
  out.marked = await page.$$eval('#videos h3 a', (as) => as.map((a) => a.innerHTML));
  await page.waitForSelector('#suggestions:not([hidden]) li');
  out.suggestions = await page.$$eval('#suggestions li', (lis) => lis.map((li) => li.textContent.trim()));
  if (args.shot) await page.screenshot({ path: args.shot, fullPage: true });
  page.off('load', onNav);
  out.navigationsWhileTyping = navigations;

  out.step = 'filter';
  await page.keyboard.press('Escape');
  await page.selectOption('#type', 'live');
  await page.waitForFunction(() => document.querySelectorAll('#videos li').length === 0);
  out.liveOnly = { videos: 0, url: page.url() };
  await page.selectOption('#type', 'all');
  await page.waitForFunction(() => document.querySelectorAll('#videos li').length > 0);

  out.step = 'restore';
  const shared = page.url();
  const second = await context.newPage();
  await second.goto(shared);
  await second.waitForFunction((want) => [...document.querySelectorAll('#videos h3 a')].some((a) => a.textContent.trim() === want), args.expect);
  out.restored = { url: shared, q: await second.$eval('#q', (i) => i.value) };
  await second.close();

  out.step = 'keyboard';
  await page.click('#q');
  await page.keyboard.press('End');
  await page.keyboard.type(' ', { delay: 30 });
  await page.keyboard.press('Backspace');
  await page.waitForSelector('#suggestions:not([hidden]) li');
  await page.keyboard.press('ArrowDown');
  const chosen = await page.$eval('#suggestions li[aria-selected="true"]', (li) => li.dataset.url);
  await Promise.all([page.waitForURL((u) => new URL(u).pathname === chosen), page.keyboard.press('Enter')]);
  out.opened = new URL(page.url()).pathname;
  out.done = true;
} catch (e) {
  out.error = String((e && e.stack) || e);
} finally {
  if (context) await context.close().catch(() => {});
  try { rmSync(userDataDir, { recursive: true, force: true }); } catch (_) {}
}
process.stdout.write(JSON.stringify(out) + '\n');
process.exitCode = out.done ? 0 : 1;
