#!/usr/bin/env node
// Uploads a file to oxcast with tus-js-client (the JavaScript tus client) in Node.
//
//   node tests/clients/tus_upload.mjs --endpoint URL --token TOKEN --file PATH [--chunk-size N]
//
// Prints one JSON line: {ok, url, videoId, bytes, progressEvents, error}. Exit 0 on success.

import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';

const require = createRequire(new URL('../../api/web/package.json', import.meta.url));
const tus = require('tus-js-client');

const args = { endpoint: null, token: null, file: null, 'chunk-size': String(256 * 1024) };
for (let i = 2; i < process.argv.length; i += 2) args[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];

const file = readFileSync(args.file);
const out = { ok: false, url: null, videoId: null, bytes: file.length, progressEvents: 0, error: null };
let videoId = null;
await new Promise((resolve) => {
  const upload = new tus.Upload(file, {
    endpoint: args.endpoint,
    headers: { Authorization: 'Bearer ' + args.token },
    chunkSize: Number(args['chunk-size']),
    retryDelays: [0, 500, 1000],
    metadata: { filename: args.file.split('/').pop(), title: 'from tus-js-client', privacy: 'private', tags: 'test,js' },
    onAfterResponse(req, res) {
      const id = res.getHeader('Oxcast-Video-Id');
      if (id) videoId = id;
    },
    onProgress() { out.progressEvents += 1; },
    onError(e) { out.error = String(e && e.message || e); resolve(); },
    onSuccess() { out.ok = true; out.url = upload.url; resolve(); },
  });
  upload.start();
});
out.videoId = videoId;
process.stdout.write(JSON.stringify(out) + '\n');
process.exit(out.ok ? 0 : 1);
