#!/usr/bin/env node
// Publishes Chromium's fake camera and microphone to an oxcast WHIP endpoint.
//
//   node tests/browser/whip.mjs --server http://127.0.0.1:PORT --stream NAME --key KEY --seconds 20
//
// Opens a page on the server's origin (getUserMedia needs a secure context: loopback is one),
// creates a sendonly H.264 + Opus peer connection, waits for ICE gathering to finish, POSTs the
// offer with the key as bearer token, applies the answer, publishes for --seconds, then DELETEs the
// session URL. Prints one JSON line: {status, location, state, codecs, bytesSent, deleted, error}.
// Exit status 0 when the connection reached "connected" and media was sent, 1 otherwise.
//
// Needs `npm ci --prefix api/web` (playwright-core) and Chromium at /usr/bin/chromium ($CHROMIUM).

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { launchChromium } from './chromium.mjs';

function parseArgs(argv) {
  const opts = { server: null, stream: 'main', key: null, seconds: 20, chromium: process.env.CHROMIUM || '/usr/bin/chromium' };
  for (let i = 0; i < argv.length; i++) {
    const next = () => argv[++i];
    const a = argv[i];
    if (a === '--server') opts.server = next();
    else if (a === '--stream') opts.stream = next();
    else if (a === '--key') opts.key = next();
    else if (a === '--seconds') opts.seconds = Number(next());
    else if (a === '--chromium') opts.chromium = next();
    else {
      process.stderr.write(`unknown argument ${a}\n`);
      process.exit(2);
    }
  }
  if (!opts.server || !opts.key) {
    process.stderr.write('usage: whip.mjs --server URL --stream NAME --key KEY [--seconds N]\n');
    process.exit(2);
  }
  return opts;
}

// Runs inside the page.
async function publish({ stream, key, seconds }) {
  const result = { status: null, location: null, state: null, codecs: [], bytesSent: 0, deleted: null, error: null };
  const media = await navigator.mediaDevices.getUserMedia({
    video: { width: 640, height: 360, frameRate: 30 },
    audio: true,
  });
  const pc = new RTCPeerConnection();
  for (const track of media.getTracks()) {
    const transceiver = pc.addTransceiver(track, { direction: 'sendonly', streams: [media] });
    if (track.kind === 'video') {
      const h264 = RTCRtpSender.getCapabilities('video').codecs.filter(
        (c) => c.mimeType === 'video/H264' && /packetization-mode=1/.test(c.sdpFmtpLine || ''),
      );
      if (h264.length) transceiver.setCodecPreferences(h264);
    }
  }
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise((resolve) => {
    if (pc.iceGatheringState === 'complete') return resolve();
    pc.addEventListener('icegatheringstatechange', () => pc.iceGatheringState === 'complete' && resolve());
    setTimeout(resolve, 3000);
  });
  const response = await fetch(`/whip/${stream}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/sdp', Authorization: `Bearer ${key}` },
    body: pc.localDescription.sdp,
  });
  result.status = response.status;
  result.location = response.headers.get('Location');
  const body = await response.text();
  if (response.status !== 201) {
    result.error = body;
    return result;
  }
  await pc.setRemoteDescription({ type: 'answer', sdp: body });
  const connected = await new Promise((resolve) => {
    if (pc.connectionState === 'connected') return resolve(true);
    pc.addEventListener('connectionstatechange', () => {
      if (pc.connectionState === 'connected') resolve(true);
      if (pc.connectionState === 'failed') resolve(false);
    });
    setTimeout(() => resolve(false), 15000);
  });
  result.state = pc.connectionState;
  if (connected) await new Promise((r) => setTimeout(r, seconds * 1000));
  const stats = await pc.getStats();
  const codecs = new Map();
  stats.forEach((s) => {
    if (s.type === 'codec') codecs.set(s.id, s.mimeType);
  });
  stats.forEach((s) => {
    if (s.type === 'outbound-rtp') {
      result.bytesSent += s.bytesSent || 0;
      if (codecs.has(s.codecId)) result.codecs.push(codecs.get(s.codecId));
    }
  });
  result.state = pc.connectionState;
  if (result.location) {
    const deleted = await fetch(result.location, { method: 'DELETE' });
    result.deleted = deleted.status;
  }
  pc.close();
  return result;
}

const opts = parseArgs(process.argv.slice(2));
const userDataDir = mkdtempSync(join(tmpdir(), 'oxcast-whip-'));
let context;
let out = { error: 'did not run' };
const hardTimeout = setTimeout(() => {
  process.stdout.write(JSON.stringify({ error: 'hard timeout' }) + '\n');
  process.exit(2);
}, (opts.seconds + 60) * 1000);
try {
  context = await launchChromium(opts.chromium, userDataDir, [
    '--use-fake-device-for-media-stream',
    '--use-fake-ui-for-media-stream',
    '--allow-loopback-in-peer-connection',
  ]);
  const page = context.pages()[0] ?? (await context.newPage());
  await page.goto(`${opts.server}/metrics`);
  out = await page.evaluate(publish, { stream: opts.stream, key: opts.key, seconds: opts.seconds });
} catch (e) {
  out = { error: String(e && e.stack ? e.stack : e) };
} finally {
  clearTimeout(hardTimeout);
  if (context) await context.close().catch(() => {});
  rmSync(userDataDir, { recursive: true, force: true });
}
process.stdout.write(JSON.stringify(out) + '\n');
process.exit(out.state === 'connected' && out.bytesSent > 0 ? 0 : 1);
