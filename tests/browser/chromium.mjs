// Launching the Debian Chromium headless for the browser tests, with the flags every test needs.

import { createRequire } from 'node:module';

const require = createRequire(new URL('../../api/web/package.json', import.meta.url));
const { chromium } = require('playwright-core');

// Headless, sandbox-free (containers), and quiet: no GPU, QUIC, first-run, background
// networking, component updates or sync.
const COMMON_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

// A persistent context in `userDataDir` (a fresh temp dir per run), with `extraFlags` added.
export function launchChromium(executablePath, userDataDir, extraFlags = [], options = {}) {
  return chromium.launchPersistentContext(userDataDir, {
    executablePath,
    headless: true,
    args: [...COMMON_FLAGS, ...extraFlags],
    ...options,
  });
}
