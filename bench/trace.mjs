#!/usr/bin/env node
// Diagnostic companion to tests/browser/play.mjs: opens a player page (oxcast's /watch/NAME or
// bench/hls-page.html) in headless Chromium and records a time series every 500 ms of
// Date.now() - hls.playingDate, hls.latency, hls.targetLatency, playbackRate, buffer ahead and
// hls.js errors, so the shape behind a p50/p95 can be seen. Not used for the headline numbers.
//
//   node bench/trace.mjs --url URL --seconds 60 [--chromium /usr/bin/chromium]
//
// Prints one JSON line: { summary: {...}, samples: [{t, lat, hlsLat, target, rate, buf, ct, dropped}],
// stalls: [{t, durMs}] ('waiting' until playing again), errors }.

import { createRequire } from 'node:module';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const require = createRequire(new URL('../api/web/package.json', import.meta.url));
const { chromium } = require('playwright-core');

const args = process.argv.slice(2);
const arg = (name, def) => {
  const i = args.indexOf(name);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : def;
};
const url = arg('--url', null);
const seconds = Number(arg('--seconds', 60));
const exe = arg('--chromium', process.env.CHROMIUM || '/usr/bin/chromium');
if (!url || !/^http:\/\/127\.0\.0\.1[:/]/.test(url) || !(seconds > 0)) {
  process.stderr.write('usage: node bench/trace.mjs --url http://127.0.0.1:PORT/... --seconds N\n');
  process.exit(2);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const pct = (v, p) => {
  const s = v.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  return s.length ? s[Math.max(1, Math.ceil((p / 100) * s.length)) - 1] : null;
};

function sample() {
  const v = document.getElementById('video');
  const hls = (window.oxcast || {}).hls;
  let buf = 0;
  if (v) {
    for (let i = 0; i < v.buffered.length; i++) {
      if (v.buffered.start(i) <= v.currentTime + 0.1 && v.currentTime < v.buffered.end(i)) buf = v.buffered.end(i) - v.currentTime;
    }
  }
  let lat = null;
  try {
    lat = window.oxcastLatency ? window.oxcastLatency() : null;
  } catch (_) {}
  return {
    lat,
    hlsLat: hls ? hls.latency : null,
    target: hls ? hls.targetLatency : null,
    rate: v ? v.playbackRate : null,
    buf: Math.round(buf * 1000) / 1000,
    ct: v ? Math.round(v.currentTime * 1000) / 1000 : null,
    waiting: v ? v.readyState < 3 : null,
    dropped: v && v.getVideoPlaybackQuality ? v.getVideoPlaybackQuality().droppedVideoFrames : null,
  };
}

const hard = setTimeout(() => {
  process.stdout.write(JSON.stringify({ ok: false, reason: 'hard timeout' }) + '\n');
  process.exit(2);
}, (seconds + 60) * 1000);

const dir = mkdtempSync(join(tmpdir(), 'oxcast-trace-'));
let ctx;
const out = { ok: false, url, summary: null, samples: [], stalls: [], errors: [] };
try {
  ctx = await chromium.launchPersistentContext(dir, {
    executablePath: exe,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--autoplay-policy=no-user-gesture-required'],
    viewport: { width: 1280, height: 800 },
  });
  const page = ctx.pages()[0] ?? (await ctx.newPage());
  await page.goto(url, { waitUntil: 'domcontentloaded', timeout: 30000 });
  await page.waitForFunction(() => (document.getElementById('video') || {}).currentTime > 0, null, { timeout: 30000, polling: 100 });
  // Record every stall of the video element ('waiting' .. 'playing') with its duration.
  await page.evaluate(() => {
    const v = document.getElementById('video');
    const log = (window.__benchStalls = []);
    let since = null;
    v.addEventListener('waiting', () => {
      if (since === null) since = Date.now();
    });
    const end = () => {
      if (since !== null) {
        log.push({ atMs: since, durMs: Date.now() - since });
        since = null;
      }
    };
    v.addEventListener('playing', end);
    v.addEventListener('timeupdate', () => {
      if (since !== null && v.readyState >= 3) end();
    });
  });
  const t0 = Date.now();
  let next = t0;
  while (Date.now() - t0 <= seconds * 1000) {
    const s = await page.evaluate(sample);
    s.t = Math.round((Date.now() - t0) / 100) / 10;
    out.samples.push(s);
    next += 500;
    await sleep(Math.max(0, next - Date.now()));
  }
  out.errors = await page.evaluate(() => ((window.oxcast || {}).errors || []).slice(0, 100));
  out.stalls = (await page.evaluate(() => window.__benchStalls || [])).map((x) => ({
    t: Math.round((x.atMs - t0) / 100) / 10,
    durMs: x.durMs,
  }));
  const lat = out.samples.map((s) => s.lat);
  out.summary = {
    latencyMs: { p5: pct(lat, 5), p50: pct(lat, 50), p95: pct(lat, 95), max: pct(lat, 100) },
    hlsLatency: { p50: pct(out.samples.map((s) => s.hlsLat), 50), p95: pct(out.samples.map((s) => s.hlsLat), 95) },
    targetLatency: pct(out.samples.map((s) => s.target), 50),
    bufferS: { p5: pct(out.samples.map((s) => s.buf), 5), p50: pct(out.samples.map((s) => s.buf), 50) },
    samplesNotAtRate1: out.samples.filter((s) => s.rate !== 1).length,
    samplesWaiting: out.samples.filter((s) => s.waiting).length,
    stallEvents: out.stalls.length,
    stallMsTotal: out.stalls.reduce((a, x) => a + x.durMs, 0),
    droppedFrames: out.samples.length ? out.samples[out.samples.length - 1].dropped : null,
  };
  out.ok = true;
} catch (e) {
  out.errors.push({ source: 'exception', text: String((e && e.stack) || e) });
} finally {
  if (ctx) await Promise.race([ctx.close().catch(() => {}), sleep(10000)]);
  rmSync(dir, { recursive: true, force: true });
  clearTimeout(hard);
}
process.stdout.write(JSON.stringify(out) + '\n');
process.exit(out.ok ? 0 : 1);
