#!/usr/bin/env node
// Walks the studio's pages as a creator: stream settings, editing a video and its captions,
// tokens (made with the keyboard only), signing keys (create, rotate, revoke), webhooks (add,
// send a test event, see it in the delivery log). Counts navigations after each page's load
// (there must be none) and lists controls without an accessible name.
//
//   node tests/browser/studio_flows.mjs --url URL --name NAME --password PW --stream NAME
//        --video ID --captions FILE.srt --hook URL --shots DIR
//
// Prints one JSON line with what each page showed; exit 0 when every flow finished.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { launchChromium } from './chromium.mjs';

const args = { url: null, name: null, password: null, stream: null, video: null, captions: null, hook: null, shots: null,
  chromium: process.env.CHROMIUM || '/usr/bin/chromium' };
for (let i = 2; i < process.argv.length; i += 2) {
  const key = process.argv[i].replace(/^--/, '');
  if (!(key in args)) { process.stderr.write(`unknown argument ${process.argv[i]}\n`); process.exit(2); }
  args[key] = process.argv[i + 1];
}

const out = { step: null, pageErrors: [], navigations: {}, unlabelled: {}, streams: {}, videos: {}, tokens: {}, keys: {}, webhooks: {}, error: null, done: false };
const userDataDir = mkdtempSync(join(tmpdir(), 'oxcast-flows-'));
let context;

// Opens `path`, then counts main-frame navigations until `leave` is called.
async function visit(page, path, ready) {
  await page.goto(args.url + path);
  await page.waitForSelector(ready);
  let count = 0;
  const onNav = (frame) => { if (frame === page.mainFrame()) count += 1; };
  page.on('framenavigated', onNav);
  const unlabelled = await page.$$eval('input:not([type=hidden]), button, textarea, select', (els) =>
    els.filter((el) => !(el.labels && el.labels.length) && !el.getAttribute('aria-label') && !el.textContent.trim())
      .map((el) => el.outerHTML.slice(0, 100)));
  out.unlabelled[path] = unlabelled;
  return async (shot) => {
    if (args.shots) await page.screenshot({ path: join(args.shots, shot + '.png'), fullPage: true });
    page.off('framenavigated', onNav);
    out.navigations[path] = count;
  };
}

const text = (page, selector) => page.$eval(selector, (el) => el.textContent.trim());

try {
  context = await launchChromium(args.chromium, userDataDir, [], { viewport: { width: 1200, height: 900 } });
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(20000);
  page.on('dialog', (d) => d.accept());
  page.on('pageerror', (e) => out.pageErrors.push(String(e && e.message)));
  page.on('console', (m) => { if (m.type() === 'error') out.pageErrors.push(m.text()); });
  page.on('response', (r) => { if (r.status() >= 400) out.pageErrors.push(r.status() + ' ' + r.url()); });

  out.step = 'login';
  await page.goto(args.url + '/login?next=/studio');
  await page.fill('#name', args.name);
  await page.fill('#password', args.password);
  // (A glob like **/studio would match the login URL itself, whose query ends in /studio.)
  await Promise.all([page.waitForURL((u) => u.pathname === '/studio'), page.click('#login button')]);

  out.step = 'streams';
  let leave = await visit(page, '/studio', '#streams-status:not(:text("Loading…"))');
  await page.fill('#stream-name', args.stream);
  await page.click('#new-stream button');
  await page.waitForSelector(`tr[data-name="${args.stream}"]`);
  await page.click(`button[aria-label="Settings of ${args.stream}"]`);
  const form = `form[aria-label="Settings of ${args.stream}"]`;
  await page.fill(`${form} input[name=title]`, 'Friday show');
  await page.selectOption(`${form} select[name=privacy]`, 'unlisted');
  await page.selectOption(`${form} select[name=playback_policy]`, 'signed');
  await page.selectOption(`${form} select[name=record]`, 'on');
  await page.click(`${form} button[type=submit]`);
  await page.waitForFunction((f) => document.querySelector(f + ' [role=status]')?.textContent, form);
  out.streams.saved = await text(page, `${form} [role=status]`);
  if (out.streams.saved !== 'Saved.') throw new Error('saving the stream: ' + out.streams.saved);
  out.streams.row = await page.$eval(`tr[data-name="${args.stream}"]`, (tr) => [...tr.cells].map((c) => c.textContent.trim()));
  await page.waitForSelector(`ul[aria-label="Past broadcasts of ${args.stream}"] li`);
  out.streams.broadcasts = await text(page, `ul[aria-label="Past broadcasts of ${args.stream}"]`);
  out.streams.obs = await page.$eval(`tr[data-settings-for="${args.stream}"] code`, (c) => c.textContent);
  await leave('streams');

  out.step = 'videos';
  leave = await visit(page, '/studio/videos', `tr[data-id="${args.video}"]`);
  await page.waitForFunction((id) => document.querySelector(`tr[data-id="${id}"]`).cells[1].textContent === 'ready', args.video, { timeout: 90000 });
  await page.click(`tr[data-id="${args.video}"] button[aria-label^="Edit"]`);
  const details = `tr[data-details-for="${args.video}"]`;
  await page.fill(`${details} form.video-settings input[name=title]`, 'Edited in the studio');
  await page.fill(`${details} form.video-settings input[name=tags]`, 'studio, test');
  await page.selectOption(`${details} form.video-settings select[name=privacy]`, 'public');
  await page.click(`${details} form.video-settings button[type=submit]`);
  await page.waitForFunction((id) => document.querySelector(`tr[data-id="${id}"] a`).textContent === 'Edited in the studio', args.video);
  await page.setInputFiles(`${details} input[type=file]`, args.captions);
  await page.fill(`${details} input[name=language]`, 'en');
  await page.fill(`${details} input[name=label]`, 'English');
  await page.click(`${details} button:text("Add captions")`);
  await page.waitForSelector(`${details} ul li a`);
  out.videos.captions = await text(page, `${details} ul`);
  out.videos.row = await page.$eval(`tr[data-id="${args.video}"]`, (tr) => [...tr.cells].map((c) => c.textContent.trim()));
  await leave('videos');

  out.step = 'tokens';
  leave = await visit(page, '/studio/tokens', '#tokens-status:not(:text("Loading…"))');
  // Keyboard only: type the name, tab to the first scope, check it with Space, submit with Enter.
  await page.focus('#token-name');
  await page.keyboard.type('ci uploads');
  await page.keyboard.press('Tab');
  await page.keyboard.press('Space');
  await page.focus('#token-name');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#token-box:not(.hidden)');
  out.tokens.secret = await text(page, '#token-value');
  out.tokens.rows = await page.$$eval('#tokens tr', (trs) => trs.map((tr) => tr.cells[0].textContent + ' ' + tr.cells[1].textContent));
  await leave('tokens');

  out.step = 'keys';
  leave = await visit(page, '/studio/keys', '#keys-status:not(:text("Loading…"))');
  await page.fill('#key-name', 'backend');
  await page.click('#new-key button');
  await page.waitForSelector('#private-box:not(.hidden)');
  out.keys.privateKey = (await text(page, '#private-value')).slice(0, 27);
  const first = await text(page, '#private-kid');
  await page.click(`button[aria-label="Rotate ${first}"]`);
  await page.waitForFunction((kid) => document.getElementById('private-kid').textContent !== kid, first);
  const second = await text(page, '#private-kid');
  await page.waitForFunction((kid) => document.querySelector(`tr[data-id="${kid}"]`)?.cells[3].textContent.startsWith('expiring'), first);
  await page.click(`button[aria-label="Revoke ${second}"]`);
  await page.waitForFunction((kid) => document.querySelector(`tr[data-id="${kid}"]`)?.cells[3].textContent === 'revoked', second);
  out.keys.states = await page.$$eval('#keys tr', (trs) => trs.map((tr) => tr.cells[3].textContent.split(' ')[0]));
  await leave('keys');

  out.step = 'webhooks';
  leave = await visit(page, '/studio/webhooks', '#hooks-status:not(:text("Loading…"))');
  await page.fill('#hook-url', args.hook);
  await page.check('input[name=event][value="video.ready"]');
  await page.click('#new-hook button');
  await page.waitForSelector(`section[aria-label="Endpoint ${args.hook}"]`);
  // The receiver verifies with the secret the page shows (as its operator would paste it).
  const secret = await text(page, `section[aria-label="Endpoint ${args.hook}"] code.secret`);
  await fetch(new URL('/secret', args.hook), { method: 'POST', body: secret });
  await page.click(`button[aria-label="Send a test event to ${args.hook}"]`);
  await page.waitForFunction(() => [...document.querySelectorAll('tbody tr[data-attempt] td.ok')].length > 0, null, { timeout: 30000 });
  out.webhooks.log = await page.$$eval('tbody tr[data-attempt]', (trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent)));
  out.webhooks.secret = secret.slice(0, 6);
  await leave('webhooks');

  out.step = 'delete video';
  leave = await visit(page, '/studio/videos', `tr[data-id="${args.video}"]`);
  await page.click(`tr[data-id="${args.video}"] button[aria-label^="Delete"]`);
  await page.waitForSelector(`tr[data-id="${args.video}"]`, { state: 'detached' });
  await leave('videos-after-delete');
  out.done = true;
} catch (e) {
  out.error = `${out.step}: ${String((e && e.message) || e)}`;
} finally {
  if (context) await context.close().catch(() => {});
  rmSync(userDataDir, { recursive: true, force: true });
}
process.stdout.write(JSON.stringify(out) + '\n');
process.exit(out.done ? 0 : 1);
