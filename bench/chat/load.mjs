#!/usr/bin/env node
// Chat fan-out load generator (issue 5 part 7), run by bench/chat_fanout.sh.
//
// Opens N websocket clients into one chat room, in batches; then S of them (the senders, a
// subset of the N, spread over the load processes) send R messages per second in total for D
// seconds. Every client, senders included, is a receiver: it records the delivery latency of
// every benchmark message it gets (receive time - send time embedded in the text) and counts it.
//
//   --protocol oxcast    ws://HOST:PORT/live/STREAM/chat (guest, no token); hello -> welcome;
//                        {"type":"send","text":...}; {"type":"message",...} frames
//   --protocol socketio  socket.io server (socketio-server.mjs): `hello` -> `welcome`, `msg`
//                        events. --sio-client lib (default): one socket.io-client per client,
//                        websocket transport only. --sio-client raw: the same Engine.IO 4 /
//                        socket.io 5 frames spoken over a bare `ws` socket, so the client-side
//                        cost is the same as for oxcast (a check on the load generator).
//
// Message text: "oxb|RUN|SEQ|SEND_US|" padded with "x" to --text-len characters. SEND_US is
// process.hrtime() in microseconds: CLOCK_MONOTONIC, shared by all processes of this machine,
// so a message sent by one load process and received by another is timed on one clock.
// Message k (0..R*D-1) is sent at T0 + k/R by sender k mod S. With the default S = ceil(R*10/4)
// each sender sends at most 4 messages per 10 s, under oxcast's limits (5 per 10 s per
// connection, 8 per 10 s per user; a guest is one user per connection).
//
// The parent process (this file without --worker) forks --processes K workers, each holding
// about N/K clients, and only coordinates: it samples the server's VmRSS and CPU from /proc
// (--server-pid), the machine's CPU, collects the workers' histograms and writes one JSON
// report (to --out FILE, else stdout). Each worker reports its own CPU (process.cpuUsage), event
// loop utilisation and event loop lag over the send phase, so a saturated load generator is
// visible (`load.saturated`: utilisation > 0.85 or lag p99 > 50 ms in any worker); then raise
// --processes (each worker is one more core's worth of event loop, if the machine has it).
//
// Options (defaults): --protocol oxcast --url (required) --clients 10000 --rate 10
// --duration 30 --senders ceil(rate*10/4) --processes 1 --batch 200 --connect-timeout 300
// --settle 3 --drain 10 --text-len 64 --viewer-ids (oxcast: ?viewer=<unique id>)
// --server-pid PID --sample-ms 1000 --out FILE (else JSON on stdout) --sio-client lib|raw
// --label NAME. Progress goes to stderr.

import { fork } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { randomBytes } from 'node:crypto';

const SELF = fileURLToPath(import.meta.url);
const MARK = 'oxb|';
const MARK_BUF = Buffer.from(MARK);
const OX_MESSAGE = Buffer.from('{"type":"message"');
const SIO_MSG = Buffer.from('42["msg"');
const startsWith = (buf, prefix) =>
  buf.length > prefix.length && buf.compare(prefix, 0, prefix.length, 0, prefix.length) === 0;
const BUCKET_US = 10; // latency histogram resolution
const BUCKETS = 1_000_000; // 10 s in 10 us buckets; slower deliveries are kept exactly
const LOOP_RESOLUTION_MS = 10; // event loop delay sampling

function nowUs() {
  const t = process.hrtime();
  return t[0] * 1e6 + t[1] / 1e3;
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));


// Resolves a client's connect promise once: with the client, or with the first error (a
// welcome that does not come within `timeoutMs` terminates the socket).
// A chat message frame (starting with `prefix`) that carries a benchmark mark goes to `onMark`
// on the fast path, without a JSON parse. Returns whether it was one.
function benchFrame(data, prefix, onMark) {
  if (!startsWith(data, prefix)) return false;
  const at = data.indexOf(MARK_BUF, prefix.length);
  if (at < 0) return false;
  onMark(data, at);
  return true;
}

function settleOnce(ws, c, resolve, timeoutMs) {
  let settled = false;
  const timer = setTimeout(() => {
    ws.terminate();
    done('timeout waiting for welcome');
  }, timeoutMs);
  function done(err) {
    if (settled) return;
    settled = true;
    clearTimeout(timer);
    resolve(err ? { err } : { c });
  }
  return done;
}

function parseArgs(argv) {
  const o = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) throw new Error(`unexpected argument ${a}`);
    const k = a.slice(2);
    if (k === 'worker' || k === 'viewer-ids') {
      o[k] = true;
    } else {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      o[k] = argv[++i];
    }
  }
  return o;
}

// ---------------------------------------------------------------------------------------------
// Worker: holds clients, sends its senders' share, records deliveries.
// ---------------------------------------------------------------------------------------------

async function worker() {
  let cfg = null;
  const clients = []; // { gi, send(text), close(), open }
  const stats = {
    connected: 0,
    connectFailed: 0,
    connectErrors: {},
    deliveries: 0,
    hist: new Uint32Array(BUCKETS),
    overflowUs: [],
    maxUs: 0,
    sumUs: 0,
    perSeq: null,
    seqMinUs: null, // per message: first delivery (server reaction + first write)
    seqMaxUs: null, // per message: last delivery (the whole fan-out, load-side processing included)
    timeline: [], // deliveries per second since T0
    firstUs: 0,
    lastUs: 0,
    errors: {}, // error frames by code
    lagged: 0,
    laggedSkipped: 0,
    viewerFrames: 0,
    otherFrames: 0,
    foreign: 0, // benchmark messages of another run (history) or out of range
    closedDuringRun: 0,
    sent: 0,
    sendSkipped: 0,
    sendLagUs: [],
  };
  let running = false; // between connect completion and close
  let t0Us = 0;

  const bump = (obj, k, n = 1) => {
    obj[k] = (obj[k] || 0) + n;
  };

  // Fast paths for benchmark messages: find the marker in the frame (as received: a Buffer for
  // bare ws clients, so no string is made and nothing is JSON-parsed), read SEQ and SEND_US.
  function onBench(s, at) {
    const tnow = nowUs();
    const p1 = s.indexOf('|', at + 4);
    const p2 = s.indexOf('|', p1 + 1);
    const p3 = s.indexOf('|', p2 + 1);
    if (p1 < 0 || p2 < 0 || p3 < 0 || s.slice(at + 4, p1) !== cfg.run) {
      stats.foreign += 1;
      return;
    }
    record(Number(s.slice(p1 + 1, p2)), Number(s.slice(p2 + 1, p3)), tnow);
  }
  let numEnd = 0;
  function readNum(buf, i) {
    let v = 0;
    let c;
    while (i < buf.length && (c = buf[i]) >= 48 && c <= 57) {
      v = v * 10 + (c - 48);
      i += 1;
    }
    numEnd = i;
    return v;
  }
  function onBenchBuf(buf, at) {
    const tnow = nowUs();
    const r = at + 4;
    const n = runBuf.length;
    if (r + n + 1 > buf.length || buf.compare(runBuf, 0, n, r, r + n) !== 0 || buf[r + n] !== 124) {
      stats.foreign += 1;
      return;
    }
    const seq = readNum(buf, r + n + 1);
    if (buf[numEnd] !== 124) {
      stats.foreign += 1;
      return;
    }
    const sent = readNum(buf, numEnd + 1);
    if (buf[numEnd] !== 124) {
      stats.foreign += 1;
      return;
    }
    record(seq, sent, tnow);
  }
  function record(seq, sent, tnow) {
    if (!(seq >= 0 && seq < stats.perSeq.length)) {
      stats.foreign += 1;
      return;
    }
    const lat = Math.max(0, tnow - sent);
    stats.perSeq[seq] += 1;
    if (lat < stats.seqMinUs[seq]) stats.seqMinUs[seq] = lat;
    if (lat > stats.seqMaxUs[seq]) stats.seqMaxUs[seq] = lat;
    stats.deliveries += 1;
    stats.sumUs += lat;
    if (lat > stats.maxUs) stats.maxUs = lat;
    const b = Math.floor(lat / BUCKET_US);
    if (b < BUCKETS) stats.hist[b] += 1;
    else stats.overflowUs.push(lat);
    if (stats.firstUs === 0) stats.firstUs = tnow;
    stats.lastUs = tnow;
    const sec = Math.max(0, Math.floor((tnow - t0Us) / 1e6));
    while (stats.timeline.length <= sec) stats.timeline.push(0);
    stats.timeline[sec] += 1;
  }

  // ---- oxcast client ----
  function oxcastClient(gi) {
    return new Promise((resolve) => {
      let url = cfg.url;
      if (cfg.viewerIds) url += `${url.includes('?') ? '&' : '?'}viewer=oxb-${cfg.run}-${gi}`;
      const ws = new WebSocket(url, { perMessageDeflate: false, skipUTF8Validation: true, handshakeTimeout: 20_000 });
      const c = {
        gi,
        open: false,
        send: (text) => ws.send(JSON.stringify({ type: 'send', text })),
        close: () => ws.terminate(),
      };
      const done = settleOnce(ws, c, resolve, cfg.clientTimeoutMs);
      ws.on('open', () => ws.send(JSON.stringify({ type: 'hello', v: 1, name: `bot${gi}` })));
      ws.on('message', (data) => {
        if (benchFrame(data, OX_MESSAGE, onBenchBuf)) return;
        const s = data.toString();
        let f;
        try {
          f = JSON.parse(s);
        } catch {
          stats.otherFrames += 1;
          return;
        }
        switch (f.type) {
          case 'welcome':
            c.open = true;
            done(null);
            break;
          case 'viewers':
            stats.viewerFrames += 1;
            break;
          case 'error':
            bump(stats.errors, f.code || 'unknown');
            if (!c.open) done(`error frame before welcome: ${f.code} ${f.message}`);
            break;
          case 'lagged':
            stats.lagged += 1;
            stats.laggedSkipped += f.skipped || 0;
            break;
          default:
            stats.otherFrames += 1;
        }
      });
      ws.on('error', (e) => done(e.message || String(e)));
      ws.on('close', () => {
        if (c.open && running) stats.closedDuringRun += 1;
        c.open = false;
        done('closed before welcome');
      });
    });
  }

  // ---- socket.io over a bare ws (Engine.IO 4 / socket.io protocol 5, default namespace) ----
  function sioRawClient(gi) {
    return new Promise((resolve) => {
      const u = new URL(cfg.url);
      u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
      u.pathname = '/socket.io/';
      u.search = '?EIO=4&transport=websocket';
      const ws = new WebSocket(u.toString(), {
        perMessageDeflate: false,
        skipUTF8Validation: true,
        handshakeTimeout: 20_000,
      });
      const c = {
        gi,
        open: false,
        send: (text) => ws.send(`42${JSON.stringify(['msg', { text }])}`),
        close: () => ws.terminate(),
      };
      const done = settleOnce(ws, c, resolve, cfg.clientTimeoutMs);
      ws.on('message', (data) => {
        if (benchFrame(data, SIO_MSG, onBenchBuf)) return;
        const s = data.toString();
        if (s.startsWith('42')) {
          let ev;
          try {
            ev = JSON.parse(s.slice(2));
          } catch {
            stats.otherFrames += 1;
            return;
          }
          if (ev[0] === 'welcome') {
            c.open = true;
            done(null);
          } else if (ev[0] === 'viewers') {
            stats.viewerFrames += 1;
          } else if (ev[0] === 'chat_error') {
            bump(stats.errors, ev[1]?.code || 'unknown');
          } else {
            stats.otherFrames += 1;
          }
        } else if (s === '2') {
          ws.send('3'); // Engine.IO ping -> pong
        } else if (s[0] === '0') {
          ws.send('40'); // open -> connect to the default namespace
        } else if (s.startsWith('40')) {
          ws.send(`42${JSON.stringify(['hello', { v: 1, name: `bot${gi}` }])}`);
        } else if (s.startsWith('44')) {
          done(`connect_error ${s.slice(2)}`);
        } else {
          stats.otherFrames += 1;
        }
      });
      ws.on('error', (e) => done(e.message || String(e)));
      ws.on('close', () => {
        if (c.open && running) stats.closedDuringRun += 1;
        c.open = false;
        done('closed before welcome');
      });
    });
  }

  // ---- socket.io-client ----
  let ioConnect = null;
  function sioLibClient(gi) {
    return new Promise((resolve) => {
      const sock = ioConnect(cfg.url, {
        transports: ['websocket'],
        forceNew: true,
        reconnection: false,
        timeout: 20_000,
        perMessageDeflate: false,
      });
      const c = {
        gi,
        open: false,
        send: (text) => sock.emit('msg', { text }),
        close: () => sock.disconnect(),
      };
      let settled = false;
      const done = (err) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(err ? { err } : { c });
      };
      const timer = setTimeout(() => {
        sock.disconnect();
        done('timeout waiting for welcome');
      }, cfg.clientTimeoutMs);
      sock.on('connect', () => sock.emit('hello', { v: 1, name: `bot${gi}` }));
      sock.on('welcome', () => {
        c.open = true;
        done(null);
      });
      sock.on('msg', (m) => {
        const t = m && m.text;
        if (typeof t === 'string' && t.startsWith(MARK)) onBench(t, 0);
        else stats.otherFrames += 1;
      });
      sock.on('viewers', () => {
        stats.viewerFrames += 1;
      });
      sock.on('chat_error', (e) => bump(stats.errors, e?.code || 'unknown'));
      sock.on('connect_error', (e) => done(`connect_error ${e.message}`));
      sock.on('disconnect', () => {
        if (c.open && running) stats.closedDuringRun += 1;
        c.open = false;
        done('disconnected before welcome');
      });
    });
  }

  let WebSocket = null;
  let runBuf = null;

  async function connectAll() {
    runBuf = Buffer.from(cfg.run);
    if (cfg.protocol === 'oxcast' || cfg.sioClient === 'raw') {
      WebSocket = (await import('ws')).default;
    } else {
      ioConnect = (await import('socket.io-client')).io;
    }
    const make = cfg.protocol === 'oxcast' ? oxcastClient : cfg.sioClient === 'raw' ? sioRawClient : sioLibClient;
    const mine = [];
    for (let gi = cfg.index; gi < cfg.clients; gi += cfg.processes) mine.push(gi);
    const t = performance.now();
    for (let i = 0; i < mine.length; i += cfg.batch) {
      const res = await Promise.all(mine.slice(i, i + cfg.batch).map((gi) => make(gi)));
      for (const r of res) {
        if (r.c) {
          clients.push(r.c);
          stats.connected += 1;
        } else {
          stats.connectFailed += 1;
          bump(stats.connectErrors, String(r.err).slice(0, 120));
        }
      }
      process.send({ ev: 'progress', connected: stats.connected, failed: stats.connectFailed });
      const left = mine.length - (i + cfg.batch);
      if (left > 0 && performance.now() - t > cfg.connectTimeoutMs) {
        stats.connectFailed += left;
        bump(stats.connectErrors, 'not tried: connect phase timed out', left);
        break;
      }
    }
    running = true;
    return performance.now() - t;
  }

  let loopDelay = null;
  let cpu0 = null;
  let elu0 = null;
  let phaseT = 0;

  function startSending(msg) {
    t0Us = msg.t0Us;
    stats.perSeq = new Uint32Array(msg.total);
    stats.seqMinUs = new Float64Array(msg.total).fill(Infinity);
    stats.seqMaxUs = new Float64Array(msg.total).fill(-1);
    const byGi = new Map(clients.map((c) => [c.gi, c]));
    // My messages: k with sender (k mod S) owned by this worker (sender gi = k mod S).
    const mine = [];
    for (let k = 0; k < msg.total; k++) {
      const s = k % msg.senders;
      if (s % cfg.processes === cfg.index) mine.push(k);
    }
    // This process's own load is measured from T0 on (the parent sends `start` 1 s before).
    loopDelay = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
    setTimeout(() => {
      loopDelay.enable();
      cpu0 = process.cpuUsage();
      elu0 = performance.eventLoopUtilization();
      phaseT = performance.now();
    }, Math.max(0, (t0Us - nowUs()) / 1000));
    let i = 0;
    const pad = 'x'.repeat(Math.max(0, cfg.textLen));
    const tick = () => {
      while (i < mine.length) {
        const k = mine[i];
        const due = t0Us + (k * 1e6) / msg.rate;
        const now = nowUs();
        if (now < due - 500) {
          setTimeout(tick, Math.max(0, (due - now) / 1000 - 0.5));
          return;
        }
        while (nowUs() < due); // the last half millisecond: spin, for an exact send time
        const c = byGi.get(k % msg.senders);
        i += 1;
        if (!c || !c.open) {
          stats.sendSkipped += 1;
          continue;
        }
        const t = nowUs();
        stats.sendLagUs.push(t - due);
        let text = `${MARK}${cfg.run}|${k}|${Math.round(t)}|`;
        if (text.length < cfg.textLen) text += pad.slice(0, cfg.textLen - text.length);
        c.send(text);
        stats.sent += 1;
      }
      process.send({ ev: 'sent', sent: stats.sent, skipped: stats.sendSkipped });
    };
    tick();
  }

  function report() {
    const wall = (performance.now() - phaseT) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const elu = performance.eventLoopUtilization(elu0);
    loopDelay.disable();
    const hist = [];
    for (let b = 0; b < BUCKETS; b++) if (stats.hist[b]) hist.push(b, stats.hist[b]);
    // The histogram records the interval between timer callbacks (resolution included):
    // the lag is that minus the resolution.
    const lag = (ns) => Math.max(0, ns / 1e6 - LOOP_RESOLUTION_MS);
    const q = (p) => lag(loopDelay.percentile(p));
    return {
      index: cfg.index,
      clients: clients.length,
      connected: stats.connected,
      connectFailed: stats.connectFailed,
      connectErrors: stats.connectErrors,
      deliveries: stats.deliveries,
      hist,
      overflowUs: stats.overflowUs,
      maxUs: stats.maxUs,
      sumUs: stats.sumUs,
      perSeq: Array.from(stats.perSeq),
      seqMinUs: Array.from(stats.seqMinUs, (x) => (Number.isFinite(x) ? x : null)),
      seqMaxUs: Array.from(stats.seqMaxUs, (x) => (x >= 0 ? x : null)),
      timeline: stats.timeline,
      firstUs: stats.firstUs,
      lastUs: stats.lastUs,
      errors: stats.errors,
      lagged: stats.lagged,
      laggedSkipped: stats.laggedSkipped,
      viewerFrames: stats.viewerFrames,
      otherFrames: stats.otherFrames,
      foreign: stats.foreign,
      closedDuringRun: stats.closedDuringRun,
      sent: stats.sent,
      sendSkipped: stats.sendSkipped,
      sendLagUs: stats.sendLagUs,
      open: clients.filter((c) => c.open).length,
      phaseWallS: wall,
      cpuUserS: cpu.user / 1e6,
      cpuSystemS: cpu.system / 1e6,
      elu: elu.utilization,
      loopDelayMs: { p50: q(50), p99: q(99), max: lag(loopDelay.max), mean: lag(loopDelay.mean) },
      rssBytes: process.memoryUsage.rss(),
    };
  }

  process.on('message', async (msg) => {
    try {
      if (msg.cmd === 'config') {
        cfg = msg.cfg;
        const ms = await connectAll();
        process.send({ ev: 'connected', connected: stats.connected, failed: stats.connectFailed, ms });
      } else if (msg.cmd === 'ping') {
        // Open sockets now, for the parent's readiness check.
        process.send({ ev: 'pong', open: clients.filter((c) => c.open).length, deliveries: stats.deliveries });
      } else if (msg.cmd === 'start') {
        startSending(msg);
      } else if (msg.cmd === 'progress') {
        process.send({ ev: 'delivered', deliveries: stats.deliveries });
      } else if (msg.cmd === 'report') {
        running = false;
        process.send({ ev: 'report', report: report() });
      } else if (msg.cmd === 'close') {
        running = false;
        for (const c of clients) {
          try {
            c.close();
          } catch {
            /* already gone */
          }
        }
        setTimeout(() => process.exit(0), 200);
      }
    } catch (e) {
      process.send({ ev: 'fatal', error: String(e && e.stack ? e.stack : e) });
      process.exit(1);
    }
  });
  process.on('disconnect', () => process.exit(0));
}

// ---------------------------------------------------------------------------------------------
// Parent: forks workers, coordinates the phases, samples the server, aggregates.
// ---------------------------------------------------------------------------------------------

function procRss(pid) {
  try {
    const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(/^VmRSS:\s+(\d+)\s+kB/m);
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}
const CLK_TCK = 100; // Linux USER_HZ
function procCpuS(pid) {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / CLK_TCK;
  } catch {
    return null;
  }
}
function machineJiffies() {
  const l = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const total = l.reduce((a, b) => a + b, 0);
  return { busy: total - l[3] - (l[4] || 0), total };
}

function quantileFromHist(hist, overflow, count, p) {
  // hist: Uint32Array-like dense of BUCKETS; overflow: sorted exact values (us)
  if (count === 0) return null;
  const rank = Math.max(1, Math.ceil((p / 100) * count));
  let acc = 0;
  for (let b = 0; b < hist.length; b++) {
    acc += hist[b];
    if (acc >= rank) return ((b + 0.5) * BUCKET_US) / 1000; // ms, bucket midpoint
  }
  return overflow[rank - acc - 1] / 1000;
}

async function parent(o) {
  const protocol = o.protocol || 'oxcast';
  if (!['oxcast', 'socketio'].includes(protocol)) throw new Error('--protocol must be oxcast or socketio');
  if (!o.url) throw new Error('--url is required');
  const clients = Number(o.clients || 10000);
  const rate = Number(o.rate || 10);
  const duration = Number(o.duration || 30);
  const senders = Math.min(clients, Number(o.senders || Math.ceil((rate * 10) / 4)));
  const processes = Math.max(1, Math.min(clients, Number(o.processes || 1)));
  const total = Math.round(rate * duration);
  const serverPid = o['server-pid'] ? Number(o['server-pid']) : null;
  const sampleMs = Number(o['sample-ms'] || 1000);
  const run = randomBytes(4).toString('hex');
  const cfgBase = {
    protocol,
    url: o.url,
    clients,
    processes,
    run,
    batch: Math.max(1, Math.ceil(Number(o.batch || 200) / processes)),
    clientTimeoutMs: 30_000,
    connectTimeoutMs: Number(o['connect-timeout'] || 300) * 1000,
    textLen: Number(o['text-len'] || 64),
    viewerIds: !!o['viewer-ids'],
    sioClient: o['sio-client'] || 'lib',
  };
  const log = (...a) => console.error(`[load ${protocol}]`, ...a);
  const perSender = (rate / senders) * 10;
  if (perSender > 5) log(`WARNING: ${perSender.toFixed(1)} messages per 10 s per sender exceeds oxcast's 5/10 s limit`);

  // Server samples.
  const samples = [];
  let phase = 'idle';
  const sample = () => {
    if (!serverPid) return;
    samples.push({ t: Date.now(), phase, rss: procRss(serverPid), cpu_s: procCpuS(serverPid) });
  };
  const rssIdle = serverPid ? procRss(serverPid) : null;
  sample();
  const sampler = setInterval(sample, sampleMs);

  // Workers.
  const workers = [];
  const waiters = new Map(); // ev -> [{w, resolve}]
  const onMsg = (w, m) => {
    if (m.ev === 'fatal') {
      log(`worker ${w.index} failed: ${m.error}`);
      process.exit(1);
    }
    if (m.ev === 'progress') {
      w.progress = m;
      return;
    }
    const list = waiters.get(m.ev) || [];
    const i = list.findIndex((x) => x.w === w);
    if (i >= 0) {
      const [x] = list.splice(i, 1);
      x.resolve(m);
    } else if (m.ev !== 'sent') {
      // unexpected but harmless
    }
    if (m.ev === 'sent') w.sent = m;
  };
  const expect = (w, ev) =>
    new Promise((resolve) => {
      if (!waiters.has(ev)) waiters.set(ev, []);
      waiters.get(ev).push({ w, resolve });
    });
  for (let index = 0; index < processes; index++) {
    const child = fork(SELF, ['--worker'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const w = { index, child, progress: null, sent: null };
    child.on('message', (m) => onMsg(w, m));
    child.on('exit', (code) => {
      if (code && !w.closing) {
        log(`worker ${index} exited with ${code}`);
        process.exit(1);
      }
    });
    workers.push(w);
  }
  const all = (cmd, ev, extra = {}) =>
    Promise.all(
      workers.map((w) => {
        const p = ev ? expect(w, ev) : null;
        w.child.send({ cmd, ...extra });
        return p;
      }),
    );

  // Connect.
  phase = 'connect';
  log(`connecting ${clients} clients to ${o.url} (${processes} process(es), batches of ${cfgBase.batch} per process)`);
  const progressTimer = setInterval(() => {
    const c = workers.reduce((a, w) => a + (w.progress?.connected || 0), 0);
    const f = workers.reduce((a, w) => a + (w.progress?.failed || 0), 0);
    log(`  connected ${c}/${clients}${f ? `, failed ${f}` : ''}`);
  }, 5000);
  const tc = performance.now();
  const conn = await Promise.all(
    workers.map((w) => {
      const p = expect(w, 'connected');
      w.child.send({ cmd: 'config', cfg: { ...cfgBase, index: w.index } });
      return p;
    }),
  );
  clearInterval(progressTimer);
  const connectS = (performance.now() - tc) / 1000;
  const connected = conn.reduce((a, m) => a + m.connected, 0);
  const failed = conn.reduce((a, m) => a + m.failed, 0);
  log(`connected ${connected}/${clients} in ${connectS.toFixed(1)} s (${failed} failed)`);
  if (connected === 0) throw new Error('no client connected');

  // Settle, then send.
  phase = 'settle';
  await sleep(Number(o.settle || 3) * 1000);
  const rssConnected = serverPid ? procRss(serverPid) : null;
  const openBefore = (await all('ping', 'pong')).reduce((a, m) => a + m.open, 0);
  // T0 = first send, 1 s from now, so that every worker has the schedule in time.
  const t0Us = nowUs() + 1_000_000;
  log(`sending ${total} messages at ${rate}/s from ${senders} senders for ${duration} s`);
  await all('start', null, { t0Us, total, rate, senders });
  await sleep(Math.max(0, (t0Us - nowUs()) / 1000));
  const cpuBefore = serverPid ? procCpuS(serverPid) : null;
  const jiffBefore = machineJiffies();
  phase = 'send';
  const tSend = performance.now();
  sample();
  // Wait for the schedule, then drain: until every expected delivery arrived or --drain s.
  await sleep(duration * 1000);
  phase = 'drain';
  const drainMs = Number(o.drain || 10) * 1000;
  const td = performance.now();
  let delivered = 0;
  let expected = 0;
  while (performance.now() - td < drainMs) {
    const sent = workers.reduce((a, w) => a + (w.sent?.sent || 0), 0);
    const allSent = workers.every((w) => w.sent);
    delivered = (await all('progress', 'delivered')).reduce((a, m) => a + m.deliveries, 0);
    expected = sent * openBefore;
    if (allSent && delivered >= expected) break;
    await sleep(250);
  }
  const drainS = (performance.now() - td) / 1000;
  const cpuAfter = serverPid ? procCpuS(serverPid) : null;
  const jiffAfter = machineJiffies();
  const sendWallS = (performance.now() - tSend) / 1000;
  sample();
  clearInterval(sampler);
  const reports = (await all('report', 'report')).map((m) => m.report);
  for (const w of workers) w.closing = true;
  await all('close', null);

  // Aggregate.
  const hist = new Uint32Array(BUCKETS);
  const overflow = [];
  const perSeq = new Array(total).fill(0);
  const seqMin = new Array(total).fill(null);
  const seqMax = new Array(total).fill(null);
  const timeline = [];
  const errors = {};
  const connectErrors = {};
  let deliveries = 0;
  let sumUs = 0;
  let maxUs = 0;
  let sent = 0;
  let sendSkipped = 0;
  let lastUs = 0;
  const sendLag = [];
  const agg = { lagged: 0, laggedSkipped: 0, viewerFrames: 0, otherFrames: 0, foreign: 0, closedDuringRun: 0 };
  for (const r of reports) {
    for (let i = 0; i < r.hist.length; i += 2) hist[r.hist[i]] += r.hist[i + 1];
    for (const us of r.overflowUs) overflow.push(us);
    r.perSeq.forEach((n, i) => {
      perSeq[i] += n;
    });
    r.seqMinUs.forEach((x, i) => {
      if (x !== null && (seqMin[i] === null || x < seqMin[i])) seqMin[i] = x;
    });
    r.seqMaxUs.forEach((x, i) => {
      if (x !== null && (seqMax[i] === null || x > seqMax[i])) seqMax[i] = x;
    });
    r.timeline.forEach((n, i) => {
      timeline[i] = (timeline[i] || 0) + n;
    });
    for (const [k, v] of Object.entries(r.errors)) errors[k] = (errors[k] || 0) + v;
    for (const [k, v] of Object.entries(r.connectErrors)) connectErrors[k] = (connectErrors[k] || 0) + v;
    deliveries += r.deliveries;
    sumUs += r.sumUs;
    maxUs = Math.max(maxUs, r.maxUs);
    sent += r.sent;
    sendSkipped += r.sendSkipped;
    lastUs = Math.max(lastUs, r.lastUs);
    sendLag.push(...r.sendLagUs);
    for (const k of Object.keys(agg)) agg[k] += r[k];
  }
  for (let i = 0; i < timeline.length; i++) timeline[i] = timeline[i] || 0;
  overflow.sort((a, b) => a - b);
  sendLag.sort((a, b) => a - b);
  const refused = errors.rate_limited || 0;
  // A refused message is never broadcast; which one was refused is not known from the frame,
  // so expected deliveries count every sent message (a refusal shows up as lost deliveries too).
  const expectedDeliveries = sent * openBefore;
  let fullyDelivered = 0;
  let neverDelivered = 0;
  for (let k = 0; k < total; k++) {
    if (perSeq[k] >= openBefore) fullyDelivered += 1;
    if (perSeq[k] === 0) neverDelivered += 1;
  }
  const spanS = lastUs > t0Us ? (lastUs - t0Us) / 1e6 : null;
  // Steady-state rate: median of the per-second delivery counts of the full seconds of the
  // send window (second 1 .. duration-1; second 0 and the drain are ramp-up and tail).
  const steady = timeline.slice(1, Math.max(1, Math.floor(duration))).slice().sort((a, b) => a - b);
  const q = (p) => quantileFromHist(hist, overflow, deliveries, p);
  const pct = (arr, p) => {
    const v = arr.filter((x) => x !== null).sort((a, b) => a - b);
    return v.length ? v[Math.min(v.length - 1, Math.max(0, Math.ceil((p / 100) * v.length) - 1))] / 1000 : null;
  };
  const loadCpuS = reports.reduce((a, r) => a + r.cpuUserS + r.cpuSystemS, 0);
  const usPerFrame = deliveries ? (loadCpuS * 1e6) / deliveries : null;
  const r3 = (x) => (x === null || x === undefined ? null : Math.round(x * 1000) / 1000);
  const sendSamples = samples.filter((s) => s.phase === 'send' || s.phase === 'drain');
  const rssSend = sendSamples.map((s) => s.rss).filter((x) => x !== null);
  const workerLoad = reports.map((r) => ({
    index: r.index,
    clients: r.clients,
    cpu_s: r3(r.cpuUserS + r.cpuSystemS),
    cpu_cores: r3((r.cpuUserS + r.cpuSystemS) / r.phaseWallS),
    event_loop_utilization: r3(r.elu),
    event_loop_lag_ms: {
      p50: r3(r.loopDelayMs.p50),
      p99: r3(r.loopDelayMs.p99),
      max: r3(r.loopDelayMs.max),
      mean: r3(r.loopDelayMs.mean),
    },
    rss_bytes: r.rssBytes,
  }));
  const saturated = workerLoad.some((w) => w.event_loop_utilization > 0.85 || w.event_loop_lag_ms.p99 > 50);
  const result = {
    label: o.label || protocol,
    protocol,
    socketio_client: protocol === 'socketio' ? cfgBase.sioClient : undefined,
    url: o.url,
    run,
    clients_requested: clients,
    clients_connected: connected,
    connect_failures: failed,
    connect_errors: connectErrors,
    connect_s: r3(connectS),
    connections_per_s: r3(connected / connectS),
    clients_open_at_start: openBefore,
    senders,
    rate_per_s: rate,
    duration_s: duration,
    text_len: cfgBase.textLen,
    messages_planned: total,
    messages_sent: sent,
    messages_not_sent: sendSkipped,
    messages_refused_rate_limited: refused,
    deliveries,
    deliveries_expected: expectedDeliveries,
    deliveries_lost: Math.max(0, expectedDeliveries - deliveries),
    messages_fully_delivered: fullyDelivered,
    messages_never_delivered: neverDelivered,
    offered_deliveries_per_s: r3((sent * openBefore) / duration),
    delivered_per_s: spanS ? r3(deliveries / Math.max(duration, spanS)) : 0,
    delivered_per_s_steady_median: steady.length ? steady[Math.floor(steady.length / 2)] : null,
    delivery_timeline_per_s: timeline,
    last_delivery_after_start_s: r3(spanS),
    drain_s: r3(drainS),
    latency_ms: {
      count: deliveries,
      p50: r3(q(50)),
      p90: r3(q(90)),
      p99: r3(q(99)),
      p999: r3(q(99.9)),
      max: r3(maxUs / 1000),
      mean: deliveries ? r3(sumUs / deliveries / 1000) : null,
      resolution_ms: BUCKET_US / 1000,
    },
    // Per message: its first delivery (server reaction time plus one write) and its last one (the
    // whole fan-out to every client, load-side processing of the other frames included).
    first_delivery_ms: { p50: r3(pct(seqMin, 50)), p99: r3(pct(seqMin, 99)), max: r3(pct(seqMin, 100)) },
    last_delivery_ms: { p50: r3(pct(seqMax, 50)), p99: r3(pct(seqMax, 99)), max: r3(pct(seqMax, 100)) },
    send_lag_ms: {
      p50: sendLag.length ? r3(sendLag[Math.floor(sendLag.length / 2)] / 1000) : null,
      p99: sendLag.length ? r3(sendLag[Math.min(sendLag.length - 1, Math.floor(sendLag.length * 0.99))] / 1000) : null,
      max: sendLag.length ? r3(sendLag[sendLag.length - 1] / 1000) : null,
    },
    error_frames: errors,
    lagged_frames: agg.lagged,
    lagged_skipped_events: agg.laggedSkipped,
    viewer_frames: agg.viewerFrames,
    other_frames: agg.otherFrames,
    foreign_messages: agg.foreign,
    disconnects_during_run: agg.closedDuringRun,
    load: {
      processes,
      saturated,
      workers: workerLoad,
      cpu_cores_total: r3(workerLoad.reduce((a, w) => a + w.cpu_cores, 0)),
      // Load-side CPU per delivered frame (all frame handling over the send phase / deliveries),
      // and what handling one broadcast costs the busiest load process: a floor under the
      // measured fan-out latency that is the load generator's, not the server's.
      cpu_us_per_delivery: r3(usPerFrame),
      broadcast_handling_ms_per_process: usPerFrame ? r3((usPerFrame * Math.ceil(openBefore / processes)) / 1000) : null,
    },
    server: serverPid
      ? {
          pid: serverPid,
          rss_idle_bytes: rssIdle,
          rss_connected_bytes: rssConnected,
          rss_send_peak_bytes: rssSend.length ? Math.max(...rssSend) : null,
          rss_send_avg_bytes: rssSend.length ? Math.round(rssSend.reduce((a, b) => a + b, 0) / rssSend.length) : null,
          rss_per_client_bytes:
            rssConnected !== null && rssIdle !== null ? Math.round((rssConnected - rssIdle) / connected) : null,
          cpu_s_send: cpuAfter !== null && cpuBefore !== null ? r3(cpuAfter - cpuBefore) : null,
          cpu_cores_send: cpuAfter !== null && cpuBefore !== null ? r3((cpuAfter - cpuBefore) / sendWallS) : null,
          samples,
        }
      : null,
    machine_cpu_busy_pct_send: r3((100 * (jiffAfter.busy - jiffBefore.busy)) / (jiffAfter.total - jiffBefore.total)),
  };
  const json = JSON.stringify(result, null, 2);
  if (o.out) writeFileSync(o.out, `${json}\n`);
  else process.stdout.write(`${json}\n`);
  log(
    `sent ${sent}, deliveries ${deliveries}/${expectedDeliveries}, ${result.delivered_per_s} delivered/s, ` +
      `p50 ${result.latency_ms.p50} ms p99 ${result.latency_ms.p99} ms max ${result.latency_ms.max} ms, ` +
      `errors ${JSON.stringify(errors)}, load cpu ${result.load.cpu_cores_total} cores${saturated ? ' (SATURATED)' : ''}`,
  );
  await sleep(300);
  process.exit(0);
}

const opts = parseArgs(process.argv.slice(2));
if (opts.worker) {
  worker();
} else {
  parent(opts).catch((e) => {
    console.error(`[load] ERROR: ${e && e.stack ? e.stack : e}`);
    process.exit(1);
  });
}
