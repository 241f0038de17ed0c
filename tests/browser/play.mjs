#!/usr/bin/env node
// Headless playback check for the oxcast player page.
//
//   node tests/browser/play.mjs --url http://127.0.0.1:PORT/watch/NAME --seconds 20 [--switch-level]
//     [--click SELECTOR]   (press a play button first, as a viewer would on a page without autoplay)
//     [--ignore-https-errors] (a certificate made by the test; the report's `protocols` then says
//                          which HTTP versions the page's requests went over)
//
// Needs `npm ci --prefix api/web` (playwright-core is resolved from there) and a
// Chromium at /usr/bin/chromium (override with --chromium PATH or $CHROMIUM).
// Prints exactly one JSON line on stdout. Exit status: 0 when playback advanced
// by at least half the sampled seconds, 1 otherwise, 2 on the hard timeout.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { launchChromium } from './chromium.mjs';

const SAMPLE_MS = 500;
const STARTUP_TIMEOUT_MS = 30_000;
const MAX_ERRORS = 100;
const HARD_TIMEOUT_EXTRA_S = 60; // on top of --seconds

function parseArgs(argv) {
  const opts = {
    url: null,
    seconds: 20,
    switchLevel: false,
    chromium: process.env.CHROMIUM || '/usr/bin/chromium',
    screenshot: null,
    click: null,
    ignoreHttpsErrors: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) usage(`missing value for ${a}`);
      return argv[++i];
    };
    if (a === '--url') opts.url = next();
    else if (a === '--seconds') opts.seconds = Number(next());
    else if (a === '--switch-level') opts.switchLevel = true;
    else if (a === '--chromium') opts.chromium = next();
    else if (a === '--screenshot') opts.screenshot = next();
    else if (a === '--click') opts.click = next();
    else if (a === '--ignore-https-errors') opts.ignoreHttpsErrors = true;
    else usage(`unknown argument ${a}`);
  }
  if (!opts.url) usage('--url is required');
  if (!Number.isFinite(opts.seconds) || opts.seconds <= 0) usage('--seconds must be a positive number');
  return opts;
}

function usage(msg) {
  process.stderr.write(
    `${msg}\nusage: node tests/browser/play.mjs --url URL [--seconds N] [--switch-level] ` +
      `[--chromium PATH] [--screenshot FILE.png] [--click SELECTOR] [--ignore-https-errors]\n`,
  );
  process.exit(2);
}

// Nearest-rank percentile over the non-null numbers; null when there are none.
function percentile(values, p) {
  const v = values.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return null;
  const rank = Math.max(1, Math.ceil((p / 100) * v.length));
  return v[rank - 1];
}

const round = (x, digits = 3) =>
  typeof x === 'number' && Number.isFinite(x) ? Number(x.toFixed(digits)) : null;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Close the browser, but never wait more than `ms` for it (the timer must not
// keep the process alive once the close has finished).
async function closeWithin(context, ms) {
  if (!context) return;
  let timer;
  await Promise.race([
    context.close().catch(() => {}),
    new Promise((r) => {
      timer = setTimeout(r, ms);
    }),
  ]);
  clearTimeout(timer);
}

// Runs inside the page.
function samplePage() {
  const video = document.getElementById('video');
  const ox = window.oxcast || {};
  const hls = ox.hls || null;
  let latencyMs = null;
  try {
    latencyMs = typeof window.oxcastLatency === 'function' ? window.oxcastLatency() : null;
  } catch (_) {
    latencyMs = null;
  }
  const level = hls ? hls.currentLevel : -1;
  const lv = hls && hls.levels && level >= 0 ? hls.levels[level] : null;
  return {
    currentTime: video ? video.currentTime : null,
    paused: video ? video.paused : null,
    readyState: video ? video.readyState : null,
    latencyMs,
    hlsLatency: hls ? hls.latency : null,
    level,
    height: lv ? lv.height : video ? video.videoHeight : null,
    levels: hls && hls.levels ? hls.levels.map((l) => l.height) : [],
    state: ox.state ?? null,
  };
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const result = {
    ok: false,
    url: opts.url,
    startupMs: null,
    currentTimeStart: null,
    currentTimeEnd: null,
    advanced: 0,
    latencyMs: { p50: null, p95: null, samples: 0 },
    hlsLatency: { p50: null, p95: null },
    levels: [],
    levelsPlayed: [],
    stalls: 0,
    errors: [],
    state: null,
  };
  let printed = false;
  const emit = (code) => {
    if (printed) return;
    printed = true;
    if (result.errors.length > MAX_ERRORS) result.errors = result.errors.slice(0, MAX_ERRORS);
    process.stdout.write(JSON.stringify(result) + '\n');
    process.exitCode = code;
  };

  const userDataDir = mkdtempSync(join(tmpdir(), 'oxcast-play-'));
  let context = null;

  const hardTimeout = setTimeout(async () => {
    result.ok = false;
    result.reason = `hard timeout after ${opts.seconds + HARD_TIMEOUT_EXTRA_S} s`;
    emit(2);
    // Best effort: give the browser a few seconds to close, then leave.
    await closeWithin(context, 5000);
    try {
      rmSync(userDataDir, { recursive: true, force: true });
    } catch (_) {}
    process.exit(2);
  }, (opts.seconds + HARD_TIMEOUT_EXTRA_S) * 1000);

  try {
    context = await launchChromium(opts.chromium, userDataDir, ['--autoplay-policy=no-user-gesture-required'], {
      viewport: { width: 1280, height: 800 },
      ignoreHTTPSErrors: opts.ignoreHttpsErrors,
    });
    const page = context.pages()[0] ?? (await context.newPage());

    const pageErrors = [];
    page.on('console', (msg) => {
      if (msg.type() === 'error') pageErrors.push({ source: 'console', text: msg.text(), url: msg.location().url || null });
    });
    page.on('pageerror', (err) => pageErrors.push({ source: 'pageerror', text: String(err && err.message) }));

    const t0 = Date.now();
    await page.goto(opts.url, { waitUntil: 'domcontentloaded', timeout: STARTUP_TIMEOUT_MS });
    if (opts.click) await page.click(opts.click, { timeout: STARTUP_TIMEOUT_MS });
    try {
      await page.waitForFunction(
        () => {
          const v = document.getElementById('video');
          return !!v && v.currentTime > 0;
        },
        null,
        { timeout: Math.max(1000, STARTUP_TIMEOUT_MS - (Date.now() - t0)), polling: 100 },
      );
      result.startupMs = Date.now() - t0;
    } catch (err) {
      result.reason = 'playback did not start within 30 s';
    }

    const samples = [];
    if (result.startupMs !== null) {
      const n = Math.max(1, Math.round((opts.seconds * 1000) / SAMPLE_MS));
      const half = Math.floor(n / 2);
      let sw = null;
      let next = Date.now();
      for (let i = 0; i <= n; i++) {
        const s = await page.evaluate(samplePage);
        s.wall = Date.now();
        samples.push(s);
        if (opts.switchLevel && i === half) {
          sw = await page.evaluate(() => {
            const hls = window.oxcast && window.oxcast.hls;
            if (!hls || !hls.levels || hls.levels.length < 2) {
              return { skipped: 'fewer than two levels' };
            }
            const from = hls.currentLevel;
            const to = (Math.max(0, from) + 1) % hls.levels.length;
            hls.currentLevel = to;
            return { from, to, fromHeight: from >= 0 ? hls.levels[from].height : null, toHeight: hls.levels[to].height };
          });
          sw.sampleIndex = i;
          sw.currentTimeAtSwitch = s.currentTime;
        }
        if (i === n) break;
        next += SAMPLE_MS;
        await sleep(Math.max(0, next - Date.now()));
      }

      const first = samples[0];
      const last = samples[samples.length - 1];
      result.currentTimeStart = round(first.currentTime);
      result.currentTimeEnd = round(last.currentTime);
      result.advanced = round(last.currentTime - first.currentTime) ?? 0;
      const lat = samples.map((s) => s.latencyMs).filter((x) => typeof x === 'number');
      result.latencyMs = { p50: round(percentile(lat, 50), 0), p95: round(percentile(lat, 95), 0), samples: lat.length };
      const hl = samples.map((s) => s.hlsLatency).filter((x) => typeof x === 'number' && x > 0);
      result.hlsLatency = { p50: round(percentile(hl, 50)), p95: round(percentile(hl, 95)) };
      result.levels = last.levels.length ? last.levels : samples.find((s) => s.levels.length)?.levels ?? [];
      result.levelsPlayed = [...new Set(samples.map((s) => s.height).filter((h) => h))];
      // A stall is a run of consecutive samples in which the playhead moved < 50 ms.
      let stalled = false;
      for (let i = 1; i < samples.length; i++) {
        const moved = samples[i].currentTime - samples[i - 1].currentTime;
        const now = moved < 0.05;
        if (now && !stalled) result.stalls++;
        stalled = now;
      }

      if (sw) {
        if (!sw.skipped) {
          const after = samples.slice(sw.sampleIndex + 1);
          const end = last.currentTime;
          const remaining = (samples.length - 1 - sw.sampleIndex) * (SAMPLE_MS / 1000);
          sw.currentTimeEnd = round(end);
          sw.advancedAfter = round(end - sw.currentTimeAtSwitch);
          sw.reachedLevel = after.some((s) => s.level === sw.to);
          sw.continued = end - sw.currentTimeAtSwitch >= remaining / 2;
          sw.currentTimeAtSwitch = round(sw.currentTimeAtSwitch);
        }
        delete sw.sampleIndex;
        result.switch = sw;
      }
      result.ok =
        result.advanced >= opts.seconds / 2 && !(sw && !sw.skipped && !sw.continued);
    }

    if (opts.screenshot) {
      await page.screenshot({ path: opts.screenshot }).catch((e) => {
        result.errors.push({ source: 'screenshot', text: String(e && e.message) });
      });
    }

    const st = await page
      .evaluate(() => ({
        state: window.oxcast ? window.oxcast.state : null,
        hlsErrors: window.oxcast && Array.isArray(window.oxcast.errors) ? window.oxcast.errors : [],
      }))
      .catch(() => ({ state: null, hlsErrors: [] }));
    result.state = st.state;
    // The HTTP version of every request the page made (resource timing's nextHopProtocol).
    result.protocols = await page
      .evaluate(() => {
        const seen = {};
        const entries = [...performance.getEntriesByType('navigation'), ...performance.getEntriesByType('resource')];
        for (const e of entries) if (e.nextHopProtocol) seen[e.nextHopProtocol] = (seen[e.nextHopProtocol] || 0) + 1;
        return seen;
      })
      .catch(() => ({}));
    result.errors.push(...pageErrors, ...st.hlsErrors.map((e) => ({ source: 'hls', ...e })));
  } catch (err) {
    result.ok = false;
    result.reason = result.reason ?? 'exception';
    result.errors.push({ source: 'exception', text: String((err && err.stack) || err) });
  } finally {
    await closeWithin(context, 10_000);
    try {
      rmSync(userDataDir, { recursive: true, force: true });
    } catch (_) {}
    clearTimeout(hardTimeout);
  }
  emit(result.ok ? 0 : 1);
}

main().catch((err) => {
  process.stdout.write(JSON.stringify({ ok: false, reason: 'exception', errors: [{ source: 'exception', text: String(err) }] }) + '\n');
  process.exit(1);
});
