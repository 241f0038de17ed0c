#!/usr/bin/env node
// Types a chat message into the oxcast player page and waits for the page to show it.
//
//   node tests/browser/chat.mjs --url http://127.0.0.1:PORT/watch/NAME --name NAME --text TEXT
//
// Prints one JSON line: {state, echoed, viewers, error}. Exit 0 when the message came back.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { launchChromium } from './chromium.mjs';

const args = { url: null, name: 'Browsy', text: 'hello', chromium: process.env.CHROMIUM || '/usr/bin/chromium' };
for (let i = 2; i < process.argv.length; i += 2) {
  const key = process.argv[i].replace(/^--/, '');
  if (!(key in args)) {
    process.stderr.write(`unknown argument ${process.argv[i]}\n`);
    process.exit(2);
  }
  args[key] = process.argv[i + 1];
}

const userDataDir = mkdtempSync(join(tmpdir(), 'oxcast-chat-'));
let context;
let out = { state: null, echoed: false, viewers: null, error: null };
try {
  context = await launchChromium(args.chromium, userDataDir);
  const page = context.pages()[0] ?? (await context.newPage());
  await page.goto(args.url);
  await page.waitForFunction(() => window.oxcast && window.oxcast.chat && window.oxcast.chat.state === 'open', null, {
    timeout: 20000,
  });
  // The name is sent in `hello`: setting it reconnects, then the message goes out.
  await page.fill('#chat-name', args.name);
  await page.dispatchEvent('#chat-name', 'change');
  await page.waitForFunction(
    (name) => window.oxcast.chat.state === 'open' && window.oxcast.chat.you && window.oxcast.chat.you.name === name,
    args.name,
    { timeout: 20000 },
  );
  await page.fill('#chat-text', args.text);
  await page.click('#chat-send');
  await page.waitForFunction(
    (text) => window.oxcast.chat.messages.some((m) => m.text === text) && document.querySelector('#chat-log').textContent.includes(text),
    args.text,
    { timeout: 20000 },
  );
  out.echoed = true;
  out.state = await page.evaluate(() => window.oxcast.chat.state);
  out.viewers = await page.evaluate(() => window.oxcast.viewers || null);
} catch (e) {
  out.error = String(e && e.message ? e.message : e);
} finally {
  if (context) await context.close().catch(() => {});
  rmSync(userDataDir, { recursive: true, force: true });
}
process.stdout.write(JSON.stringify(out) + '\n');
process.exit(out.echoed ? 0 : 1);
