#!/usr/bin/env node
// Serves nginx-rtmp's classic HLS output with EXT-X-PROGRAM-DATE-TIME added, plus a plain
// hls.js player page, so tests/browser/play.mjs can measure Date.now() - hls.playingDate for
// nginx exactly as it does for oxcast.
//
//   node bench/pdt-proxy.mjs --hls-dir DIR --anchor-playlist http://127.0.0.1:P/live/main/video/index.m3u8
//        [--port 0] [--stream bench] [--page bench/hls-page.html] [--hlsjs PATH] [--max-seconds 900]
//
// Routes: /watch (player page; ?src= overrides the playlist), /hls.min.js, /hls/<stream>.m3u8
// (rewritten), /hls/<file>.ts (as is), /status (JSON: anchor, PTS base, per-segment mapping).
// Prints "pdt-proxy listening on http://127.0.0.1:PORT" once ready. Only node: built-ins.
//
// How a segment's PROGRAM-DATE-TIME is computed (the same definition oxcast uses: the wall
// clock at which the segment's first frame reached the server):
//
//   PDT(segment) = anchor + (firstVideoPTS(segment) - firstVideoPTS(first segment)) / 90 kHz
//
// * anchor: the PROGRAM-DATE-TIME of oxcast's first segment in the same run. oxcast stamps it
//   with the ingest wall clock of the stream's first keyframe. One ffmpeg tee feeds both
//   servers, so that same keyframe reached nginx at (nearly) the same moment.
// * firstVideoPTS: the PTS of the first video PES in the .ts file (33-bit, 90 kHz, unwrapped
//   against the base). nginx-rtmp adds a constant offset to the FLV timestamps; taking the
//   difference to its own first segment removes it (the base is reported in /status).
// * Cross-check: nginx opens a fragment file when that fragment's first keyframe arrives, so
//   the file's birth time is an independent measurement of the same instant. /status lists
//   pdt - birthtime for every segment.

import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const PTS_WRAP = 2 ** 33;
const DIR_POLL_MS = 20;
const ANCHOR_POLL_MS = 50;
const MAX_SEGMENTS_KEPT = 2000;

function parseArgs(argv) {
  const o = {
    port: 0,
    hlsDir: null,
    stream: 'bench',
    page: path.join(HERE, 'hls-page.html'),
    hlsjs: path.join(HERE, '..', 'api', 'web', 'node_modules', 'hls.js', 'dist', 'hls.min.js'),
    anchorPlaylist: null,
    maxSeconds: 900,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) fail(`missing value for ${a}`);
      return argv[++i];
    };
    if (a === '--port') o.port = Number(next());
    else if (a === '--hls-dir') o.hlsDir = next();
    else if (a === '--stream') o.stream = next();
    else if (a === '--page') o.page = next();
    else if (a === '--hlsjs') o.hlsjs = next();
    else if (a === '--anchor-playlist') o.anchorPlaylist = next();
    else if (a === '--max-seconds') o.maxSeconds = Number(next());
    else fail(`unknown argument ${a}`);
  }
  if (!o.hlsDir) fail('--hls-dir is required');
  if (!o.anchorPlaylist) fail('--anchor-playlist is required');
  const u = new URL(o.anchorPlaylist);
  if (u.hostname !== '127.0.0.1') fail('--anchor-playlist must be on 127.0.0.1');
  return o;
}

function fail(msg) {
  process.stderr.write(`pdt-proxy: ${msg}\n`);
  process.exit(2);
}

const opts = parseArgs(process.argv.slice(2));
const log = (...a) => process.stderr.write(`[pdt-proxy ${new Date().toISOString()}] ${a.join(' ')}\n`);

// ---------------------------------------------------------------- MPEG-TS: first video PTS

// PTS of the first video PES (H.264/H.265 per the PMT) in an MPEG-TS buffer, or null when the
// buffer does not (yet) contain one.
export function firstVideoPts(buf) {
  let pmtPid = null;
  let videoPid = null;
  for (let off = 0; off + 188 <= buf.length; off += 188) {
    if (buf[off] !== 0x47) {
      // Resynchronise (should not happen with nginx-rtmp output).
      const next = buf.indexOf(0x47, off + 1);
      if (next < 0) return null;
      off = next - 188;
      continue;
    }
    const pusi = (buf[off + 1] & 0x40) !== 0;
    const pid = ((buf[off + 1] & 0x1f) << 8) | buf[off + 2];
    const afc = (buf[off + 3] >> 4) & 0x3;
    let p = off + 4;
    if (afc === 2) continue; // adaptation field only
    if (afc === 3) p += 1 + buf[p];
    if (p >= off + 188) continue;
    if (pid === 0 && pusi) {
      p += 1 + buf[p]; // pointer field
      // PAT: table_id(1) flags+len(2) tsid(2) ver(1) sec(1) last(1), then 4-byte entries.
      const secLen = ((buf[p + 1] & 0x0f) << 8) | buf[p + 2];
      const end = Math.min(p + 3 + secLen - 4, off + 188);
      for (let q = p + 8; q + 4 <= end; q += 4) {
        const prog = (buf[q] << 8) | buf[q + 1];
        if (prog !== 0) {
          pmtPid = ((buf[q + 2] & 0x1f) << 8) | buf[q + 3];
          break;
        }
      }
    } else if (pmtPid !== null && pid === pmtPid && pusi) {
      p += 1 + buf[p];
      const secLen = ((buf[p + 1] & 0x0f) << 8) | buf[p + 2];
      const end = Math.min(p + 3 + secLen - 4, off + 188);
      const progInfoLen = ((buf[p + 10] & 0x0f) << 8) | buf[p + 11];
      for (let q = p + 12 + progInfoLen; q + 5 <= end; ) {
        const type = buf[q];
        const epid = ((buf[q + 1] & 0x1f) << 8) | buf[q + 2];
        const esInfo = ((buf[q + 3] & 0x0f) << 8) | buf[q + 4];
        if (type === 0x1b || type === 0x24) {
          videoPid = epid;
          break;
        }
        q += 5 + esInfo;
      }
    } else if (videoPid !== null && pid === videoPid && pusi) {
      if (buf[p] !== 0 || buf[p + 1] !== 0 || buf[p + 2] !== 1) return null;
      const flags = buf[p + 7];
      if ((flags & 0x80) === 0) return null;
      const b = buf.subarray(p + 9, p + 14);
      if (b.length < 5) return null;
      return (
        (b[0] & 0x0e) * 2 ** 29 + // bits 32..30
        b[1] * 2 ** 22 +
        ((b[2] & 0xfe) >> 1) * 2 ** 15 +
        b[3] * 2 ** 7 +
        ((b[4] & 0xfe) >> 1)
      );
    }
  }
  return null;
}

function readHead(file, bytes = 256 * 1024) {
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.alloc(bytes);
    const n = fs.readSync(fd, buf, 0, bytes, 0);
    return buf.subarray(0, n);
  } finally {
    fs.closeSync(fd);
  }
}

// ---------------------------------------------------------------- state

const state = {
  startedAtMs: Date.now(),
  anchor: null, // { pdt, pdtMs, msn, mediaSequence, fetchedAtMs }
  anchorPolls: 0,
  anchorErrors: 0,
  base: null, // { file, seq, pts, birthtimeMs, firstSeenMs }
  segments: new Map(), // file -> { file, seq, pts, birthtimeMs, firstSeenMs }
  warnings: [],
  playlistRequests: 0,
  segmentRequests: 0,
  lastPlaylist: null,
};

const segRe = new RegExp(`^${opts.stream.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}-(\\d+)\\.ts$`);

function warn(msg) {
  log('WARN', msg);
  if (state.warnings.length < 100) state.warnings.push({ atMs: Date.now(), msg });
}

function ptsDelta(pts, base) {
  let d = (((pts - base) % PTS_WRAP) + PTS_WRAP) % PTS_WRAP;
  if (d >= PTS_WRAP / 2) d -= PTS_WRAP;
  return d;
}

function pdtMsOf(seg) {
  if (!state.anchor || !state.base || seg.pts === null) return null;
  return state.anchor.pdtMs + ptsDelta(seg.pts, state.base.pts) / 90;
}

// Learn (and cache) the first video PTS of a fragment; returns the record or null.
function learnSegment(file, seenAtMs = Date.now()) {
  const m = segRe.exec(file);
  if (!m) return null;
  let seg = state.segments.get(file);
  if (!seg) {
    seg = { file, seq: Number(m[1]), pts: null, birthtimeMs: null, firstSeenMs: seenAtMs };
    state.segments.set(file, seg);
    if (state.segments.size > MAX_SEGMENTS_KEPT) {
      const oldest = state.segments.keys().next().value;
      if (oldest !== state.base?.file) state.segments.delete(oldest);
    }
  }
  if (seg.pts === null) {
    const full = path.join(opts.hlsDir, file);
    try {
      const st = fs.statSync(full);
      seg.birthtimeMs = st.birthtimeMs > 0 ? st.birthtimeMs : null;
      seg.pts = firstVideoPts(readHead(full));
    } catch (_) {
      // deleted or not readable yet: try again on the next poll
    }
    if (seg.pts !== null && !state.base) {
      // The proxy starts before the publisher, so the first fragment it sees is the session's first.
      const seqs = [...state.segments.values()].map((s) => s.seq);
      if (seg.seq !== Math.min(...seqs)) warn(`base fragment ${file} is not the lowest numbered one seen`);
      state.base = { file, seq: seg.seq, pts: seg.pts, birthtimeMs: seg.birthtimeMs, firstSeenMs: seg.firstSeenMs };
      log(`nginx PTS base: ${file} first video PTS ${seg.pts} (${(seg.pts / 90000).toFixed(3)} s)`);
    } else if (seg.pts !== null && state.base && seg.seq < state.base.seq) {
      warn(`fragment ${file} is older than the base ${state.base.file}`);
    }
  }
  return seg;
}

function pollDir() {
  let files = [];
  try {
    files = fs.readdirSync(opts.hlsDir);
  } catch (e) {
    warn(`readdir ${opts.hlsDir}: ${e.message}`);
  }
  const now = Date.now();
  for (const f of files.sort((a, b) => (segRe.exec(a)?.[1] ?? 0) - (segRe.exec(b)?.[1] ?? 0))) {
    if (segRe.test(f)) learnSegment(f, now);
  }
}

async function pollAnchor() {
  if (state.anchor) return;
  state.anchorPolls++;
  try {
    const res = await fetch(opts.anchorPlaylist, { cache: 'no-store', signal: AbortSignal.timeout(2000) });
    if (!res.ok) return;
    const text = await res.text();
    const seq = /^#EXT-X-MEDIA-SEQUENCE:(\d+)/m.exec(text);
    const pdt = /^#EXT-X-PROGRAM-DATE-TIME:(\S+)/m.exec(text);
    if (/^#EXT-X-SKIP/m.test(text)) {
      warn('anchor playlist uses EXT-X-SKIP; cannot identify the first segment');
      return;
    }
    if (!pdt) return;
    const pdtMs = Date.parse(pdt[1]);
    if (!Number.isFinite(pdtMs)) return warn(`unparseable PROGRAM-DATE-TIME ${pdt[1]}`);
    const mediaSequence = seq ? Number(seq[1]) : null;
    state.anchor = { pdt: pdt[1], pdtMs, mediaSequence, fetchedAtMs: Date.now() };
    log(`anchor: oxcast first segment (MSN ${mediaSequence}) PROGRAM-DATE-TIME ${pdt[1]}`);
  } catch (_) {
    state.anchorErrors++;
  }
}

// ---------------------------------------------------------------- playlist rewrite

function rewritePlaylist(text) {
  const lines = text.split(/\r?\n/);
  const out = [];
  let pendingInf = -1; // index in `out` of the #EXTINF line waiting for its URI
  for (const line of lines) {
    if (line.startsWith('#EXT-X-PROGRAM-DATE-TIME')) continue; // never the case for nginx-rtmp
    if (line.startsWith('#EXTINF')) {
      pendingInf = out.length;
      out.push(line);
      continue;
    }
    if (line && !line.startsWith('#') && pendingInf >= 0) {
      const seg = learnSegment(path.basename(line.split('?')[0]));
      const pdt = seg ? pdtMsOf(seg) : null;
      if (pdt !== null) {
        out.splice(pendingInf, 0, `#EXT-X-PROGRAM-DATE-TIME:${new Date(Math.round(pdt)).toISOString()}`);
      } else {
        warn(`no PROGRAM-DATE-TIME for ${line} (anchor ${!!state.anchor}, base ${!!state.base})`);
      }
      pendingInf = -1;
    }
    out.push(line);
  }
  return out.join('\n');
}

// ---------------------------------------------------------------- HTTP

function statusJson() {
  const segs = [...state.segments.values()]
    .filter((s) => s.pts !== null)
    .sort((a, b) => a.seq - b.seq)
    .map((s) => {
      const pdtMs = pdtMsOf(s);
      return {
        file: s.file,
        seq: s.seq,
        pts: s.pts,
        ptsSinceBaseS: state.base ? ptsDelta(s.pts, state.base.pts) / 90000 : null,
        pdt: pdtMs !== null ? new Date(Math.round(pdtMs)).toISOString() : null,
        pdtMinusBirthMs: pdtMs !== null && s.birthtimeMs ? Math.round((pdtMs - s.birthtimeMs) * 10) / 10 : null,
        pdtMinusFirstSeenMs: pdtMs !== null ? Math.round(pdtMs - s.firstSeenMs) : null,
      };
    });
  // The base fragment is ~0 by construction (same keyframe as the anchor): leave it out.
  const d = segs
    .filter((s) => !state.base || s.seq !== state.base.seq)
    .map((s) => s.pdtMinusBirthMs)
    .filter((x) => typeof x === 'number')
    .sort((a, b) => a - b);
  const q = (p) => (d.length ? d[Math.min(d.length - 1, Math.floor(p * d.length))] : null);
  return {
    ready: !!(state.anchor && state.base),
    anchor: state.anchor,
    anchorPolls: state.anchorPolls,
    anchorErrors: state.anchorErrors,
    nginxBase: state.base && {
      ...state.base,
      ptsSeconds: state.base.pts / 90000,
      // The anchor is the wall clock of oxcast's first keyframe; nginx's first fragment
      // should have been created within milliseconds of it.
      birthMinusAnchorMs: state.anchor && state.base.birthtimeMs ? Math.round((state.base.birthtimeMs - state.anchor.pdtMs) * 10) / 10 : null,
    },
    crossCheck: {
      description:
        'PDT assigned by the proxy minus the birth time of the fragment file (nginx creates it when the ' +
        "fragment's first keyframe arrives), over all fragments after the first. A positive value means " +
        'frames arrived earlier than anchor + PTS, i.e. the first keyframe (the anchor) came late ' +
        'relative to the steady-state schedule, and PDT-based latencies read low by that much.',
      n: d.length,
      minMs: d.length ? d[0] : null,
      p05Ms: q(0.05),
      p50Ms: q(0.5),
      p95Ms: q(0.95),
      maxMs: d.length ? d[d.length - 1] : null,
    },
    playlistRequests: state.playlistRequests,
    segmentRequests: state.segmentRequests,
    lastPlaylist: state.lastPlaylist,
    warnings: state.warnings,
    segments: segs,
  };
}

function send(res, code, type, body, extra = {}) {
  res.writeHead(code, { 'content-type': type, 'cache-control': 'no-cache, no-store', ...extra });
  res.end(body);
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://127.0.0.1');
  const p = url.pathname;
  try {
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'text/plain', 'method not allowed\n');
    if (p === '/' || p === '/watch') {
      return send(res, 200, 'text/html; charset=utf-8', fs.readFileSync(opts.page));
    }
    if (p === '/hls.min.js') {
      return send(res, 200, 'text/javascript', fs.readFileSync(opts.hlsjs), { 'cache-control': 'max-age=3600' });
    }
    if (p === '/status') return send(res, 200, 'application/json', JSON.stringify(statusJson()) + '\n');
    if (p.startsWith('/hls/')) {
      const name = path.basename(p);
      if (name !== p.slice('/hls/'.length)) return send(res, 404, 'text/plain', 'not found\n');
      const file = path.join(opts.hlsDir, name);
      if (name.endsWith('.m3u8')) {
        let text;
        try {
          text = fs.readFileSync(file, 'utf8');
        } catch (_) {
          return send(res, 404, 'text/plain', 'not found\n');
        }
        state.playlistRequests++;
        const body = rewritePlaylist(text);
        state.lastPlaylist = body;
        return send(res, 200, 'application/vnd.apple.mpegurl', body);
      }
      if (name.endsWith('.ts')) {
        let data;
        try {
          data = fs.readFileSync(file);
        } catch (_) {
          return send(res, 404, 'text/plain', 'not found\n');
        }
        state.segmentRequests++;
        return send(res, 200, 'video/mp2t', data, { 'cache-control': 'max-age=60' });
      }
    }
    return send(res, 404, 'text/plain', 'not found\n');
  } catch (e) {
    return send(res, 500, 'text/plain', `${e.message}\n`);
  }
});

const dirTimer = setInterval(pollDir, DIR_POLL_MS);
const anchorTimer = setInterval(pollAnchor, ANCHOR_POLL_MS);
const stopTimer = setTimeout(() => {
  log(`--max-seconds ${opts.maxSeconds} reached; exiting`);
  shutdown(0);
}, opts.maxSeconds * 1000);

function shutdown(code) {
  clearInterval(dirTimer);
  clearInterval(anchorTimer);
  clearTimeout(stopTimer);
  server.close();
  server.closeAllConnections?.();
  setTimeout(() => process.exit(code), 200).unref();
}
process.on('SIGTERM', () => shutdown(0));
process.on('SIGINT', () => shutdown(0));

server.listen(opts.port, '127.0.0.1', () => {
  const { port } = server.address();
  process.stdout.write(`pdt-proxy listening on http://127.0.0.1:${port}\n`);
});
