#!/usr/bin/env node
// Uploads a file through the studio's upload page with its tus client, reloads the page halfway
// (the upload resumes from the server's offset when the same file is chosen again), waits for
// the video to be ready in the list, then plays it on its page, seeks, and hovers the seek bar.
//
//   node tests/browser/upload.mjs --url http://127.0.0.1:PORT --name NAME --password PW --file PATH
//        [--title T] [--screenshots DIR]
//
// Prints one JSON line with what happened; exit 0 when the video played after a seek.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { launchChromium } from './chromium.mjs';

const args = { url: null, name: null, password: null, file: null, title: 'From the browser', screenshots: '', chromium: process.env.CHROMIUM || '/usr/bin/chromium' };
for (let i = 2; i < process.argv.length; i += 2) {
  const key = process.argv[i].replace(/^--/, '');
  if (!(key in args)) {
    process.stderr.write(`unknown argument ${process.argv[i]}\n`);
    process.exit(2);
  }
  args[key] = process.argv[i + 1];
}

const userDataDir = mkdtempSync(join(tmpdir(), 'oxcast-upload-'));
let context;
const out = {
  patchesBeforeReload: 0, interrupted: false, resumed: false, navigationsAfterReload: 0, progressSeen: [],
  videoId: null, status: null, played: false, seekedTo: null, afterSeek: null, preview: null, unlabelled: [], error: null,
};
const unlabelled = (page) => page.$$eval('input:not([type=hidden]), button, textarea, select', (els) =>
  els.filter((el) => !(el.labels && el.labels.length) && !el.getAttribute('aria-label') && !el.textContent.trim())
    .map((el) => el.outerHTML.slice(0, 80)));
try {
  context = await launchChromium(args.chromium, userDataDir, ['--autoplay-policy=no-user-gesture-required'], { viewport: { width: 1100, height: 800 } });
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(60000);
  await page.goto(args.url + '/studio/upload');
  await page.waitForSelector('#login');
  await page.fill('#name', args.name);
  await page.fill('#password', args.password);
  await Promise.all([page.waitForURL('**/studio/upload'), page.click('#login button')]);
  await page.waitForSelector('#videos-status:not(:text("Loading…"))');

  // The second PATCH never reaches the server: the page is reloaded instead, as if closed.
  let interrupt;
  const interrupted = new Promise((resolve) => { interrupt = resolve; });
  await page.route('**/api/uploads/**', async (route) => {
    if (route.request().method() !== 'PATCH') return route.continue();
    out.patchesBeforeReload += 1;
    if (out.patchesBeforeReload === 1) return route.continue();
    out.interrupted = true;
    interrupt();
    return route.abort();
  });
  await page.setInputFiles('#file', args.file);
  await page.fill('#title', args.title);
  await page.selectOption('#privacy', 'unlisted');
  await page.click('#start');
  const timeout = new Promise((_, reject) => setTimeout(() => reject(new Error('the upload never sent a second PATCH')), 60000));
  await Promise.race([interrupted, timeout]).catch(async (e) => {
    throw new Error(e.message + ': ' + await page.textContent('#upload-status').catch(() => '?'));
  });
  await page.unroute('**/api/uploads/**');
  await page.reload();
  await page.waitForSelector('#videos-status:not(:text("Loading…"))');

  let counting = true;
  page.on('framenavigated', (frame) => { if (counting && frame === page.mainFrame()) out.navigationsAfterReload += 1; });
  // Every value the page gives its progress bar, however fast the upload runs.
  await page.evaluate(() => {
    const bar = document.getElementById('bar');
    const value = Object.getOwnPropertyDescriptor(HTMLProgressElement.prototype, 'value');
    window.progressSeen = [];
    Object.defineProperty(bar, 'value', {
      get() { return value.get.call(this); },
      set(v) { window.progressSeen.push(v); value.set.call(this, v); },
    });
  });
  await page.setInputFiles('#file', args.file);
  await page.click('#start');
  await page.waitForFunction(() => document.getElementById('transfer').dataset.resumed);
  out.resumed = (await page.$eval('#transfer', (t) => t.dataset.resumed)) === 'yes';
  await page.waitForFunction(() => document.getElementById('upload-status').textContent.startsWith('Uploaded'));
  out.progressSeen = [...new Set(await page.evaluate(() => window.progressSeen))];
  out.unlabelled.push(...await unlabelled(page));
  // The list follows processing by itself.
  await page.waitForFunction(() => [...document.querySelectorAll('#videos tr')].some((tr) => tr.cells[1].textContent === 'ready'), null, { timeout: 120000 });
  if (args.screenshots) await page.screenshot({ path: join(args.screenshots, 'upload.png'), fullPage: true });
  const href = await page.$eval('#videos tr a', (a) => a.getAttribute('href'));
  out.videoId = href.split('/').pop();
  out.status = await page.$eval('#videos tr', (tr) => tr.cells[1].textContent);

  // The video page plays, seeks, and previews the storyboard on the seek bar.
  counting = false;
  await page.goto(args.url + href);
  await page.waitForFunction(() => window.oxcastVideo && window.oxcastVideo.cues().length > 0);
  await page.evaluate(() => { const v = document.getElementById('video'); v.muted = true; return v.play(); });
  await page.waitForFunction(() => document.getElementById('video').currentTime > 0.5);
  out.played = true;
  const box = await page.locator('#seek').boundingBox();
  await page.mouse.move(box.x + box.width * 0.6, box.y + box.height / 2);
  out.preview = await page.$eval('#preview', (p) => ({ hidden: p.hidden, image: p.style.backgroundImage, position: p.style.backgroundPosition }));
  if (args.screenshots) await page.screenshot({ path: join(args.screenshots, 'video.png') });
  out.seekedTo = 7;
  await page.evaluate(() => {
    const seek = document.getElementById('seek');
    seek.value = '7';
    seek.dispatchEvent(new Event('change'));
  });
  await page.waitForFunction(() => { const v = document.getElementById('video'); return !v.seeking && v.currentTime >= 7.2; });
  out.afterSeek = await page.evaluate(() => document.getElementById('video').currentTime);
  out.unlabelled.push(...await unlabelled(page));
} catch (e) {
  out.error = String(e && e.message || e);
} finally {
  if (context) await context.close().catch(() => {});
  rmSync(userDataDir, { recursive: true, force: true });
}
process.stdout.write(JSON.stringify(out) + '\n');
process.exit(out.error ? 1 : 0);
