#!/usr/bin/env node
// The socket.io peer of the chat fan-out benchmark (bench/chat_fanout.sh): one room, broadcast
// with io.to(room).emit, doing per message what oxcast's in-process chat does, no more:
//
//   connection  -> guest identity (guest-<16 hex>, name guest-XXXX), `hello` required within 10 s
//   hello {v,name} -> version and display-name checks (1..32 chars, no control characters),
//                  join the room, `welcome` {v, you, history (last 50, in memory), slow_mode, viewers}
//   msg {text}  -> non-empty, <= 500 characters, no control characters but \n, per-connection
//                  token bucket (5 per 10 s) and per-user bucket (8 per 10 s); refusals answer
//                  `chat_error` {code, message, retry_after_ms}; accepted: {id, user, text, at}
//                  appended to the in-memory history and broadcast as `msg` to the whole room
//                  (sender included, as oxcast does)
//   every 5 s   -> `viewers` {current, peak} to the room when changed, else every 6th tick
//   heartbeat   -> engine.io ping every 20 s, connection dropped after 30 s more without pong
//                  (oxcast: ping every 20 s, closed after 50 s of silence)
//
// No persistence, no Redis adapter, no compression (perMessageDeflate off, as oxcast's axum
// websockets have none). One Node process = one core, which is how socket.io runs unless an
// adapter and a cluster are added; oxcast runs on tokio's multi-threaded runtime.
//
// Usage: node socketio-server.mjs [--port 0] [--host 127.0.0.1]
// Prints "socket.io chat listening on HOST:PORT" once listening. SIGTERM/SIGINT: exit.

import { createServer } from 'node:http';
import { randomBytes } from 'node:crypto';
import { Server } from 'socket.io';

const args = process.argv.slice(2);
function opt(name, dflt) {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : dflt;
}
const host = opt('host', '127.0.0.1');
const port = Number(opt('port', '0'));

const ROOM = 'main';
const HISTORY_LEN = 50;
const MAX_MESSAGE_CHARS = 500;
const HELLO_TIMEOUT_MS = 10_000;
const VIEWERS_INTERVAL_MS = 5_000;
const VIEWERS_FORCE_EVERY = 6;

// Token bucket: `burst` tokens, refilled continuously at burst/periodMs.
class Bucket {
  constructor(burst, periodMs) {
    this.burst = burst;
    this.perTokenMs = periodMs / burst;
    this.tokens = burst;
    this.last = performance.now();
  }
  take() {
    const now = performance.now();
    this.tokens = Math.min(this.burst, this.tokens + (now - this.last) / this.perTokenMs);
    this.last = now;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return 0;
    }
    return Math.ceil((1 - this.tokens) * this.perTokenMs);
  }
}

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/;
function validName(name) {
  if (typeof name !== 'string') return null;
  const t = name.trim();
  const chars = [...t].length;
  if (chars < 1 || chars > 32 || CONTROL.test(t) || t.includes('\n')) return null;
  return t;
}

const history = [];
let nextId = 1;
const userBuckets = new Map(); // user id -> Bucket (per user across connections; guests: 1 each)
const present = new Map(); // presence key -> connection count
let peak = 0;

const http = createServer((req, res) => {
  if (req.url === '/healthz') {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('ok\n');
    return;
  }
  res.writeHead(404);
  res.end();
});
const io = new Server(http, {
  serveClient: false,
  perMessageDeflate: false,
  httpCompression: false,
  maxHttpBufferSize: 64 * 1024,
  pingInterval: 20_000,
  pingTimeout: 30_000,
  connectTimeout: HELLO_TIMEOUT_MS,
});

io.on('connection', (socket) => {
  const hex = randomBytes(8).toString('hex');
  const me = { id: `guest-${hex}`, name: `guest-${hex.slice(0, 4)}`, role: 'guest' };
  const bucket = new Bucket(5, 10_000);
  let joined = false;
  const helloTimer = setTimeout(() => {
    socket.emit('chat_error', { code: 'bad_request', message: 'no hello received' });
    socket.disconnect(true);
  }, HELLO_TIMEOUT_MS);

  socket.on('hello', (h) => {
    if (joined) return;
    if (!h || h.v !== 1) {
      socket.emit('chat_error', { code: 'bad_request', message: 'unsupported protocol version' });
      socket.disconnect(true);
      return;
    }
    if (h.name !== undefined) {
      const n = validName(h.name);
      if (n === null) {
        socket.emit('chat_error', { code: 'bad_request', message: 'invalid display name' });
        return;
      }
      me.name = n;
    }
    clearTimeout(helloTimer);
    joined = true;
    socket.join(ROOM);
    present.set(me.id, (present.get(me.id) || 0) + 1);
    peak = Math.max(peak, present.size);
    socket.emit('welcome', {
      v: 1,
      you: me,
      history: history.slice(),
      slow_mode: 0,
      viewers: { current: present.size, peak },
    });
  });

  socket.on('msg', (m) => {
    if (!joined) {
      socket.emit('chat_error', { code: 'bad_request', message: 'say hello first' });
      return;
    }
    const text = m && typeof m.text === 'string' ? m.text : null;
    if (text === null || text.trim() === '') {
      socket.emit('chat_error', { code: 'bad_request', message: 'empty message' });
      return;
    }
    const chars = [...text].length;
    if (chars > MAX_MESSAGE_CHARS) {
      socket.emit('chat_error', {
        code: 'too_long',
        message: `message has ${chars} characters; the limit is ${MAX_MESSAGE_CHARS}`,
      });
      return;
    }
    if (CONTROL.test(text)) {
      socket.emit('chat_error', { code: 'bad_request', message: 'message contains control characters' });
      return;
    }
    let wait = bucket.take();
    if (wait > 0) {
      socket.emit('chat_error', {
        code: 'rate_limited',
        message: 'this connection is sending too fast',
        retry_after_ms: wait,
      });
      return;
    }
    let ub = userBuckets.get(me.id);
    if (!ub) userBuckets.set(me.id, (ub = new Bucket(8, 10_000)));
    wait = ub.take();
    if (wait > 0) {
      socket.emit('chat_error', { code: 'rate_limited', message: 'you are sending too fast', retry_after_ms: wait });
      return;
    }
    const msg = { id: nextId++, user: me, text, at: Date.now() };
    history.push(msg);
    if (history.length > HISTORY_LEN) history.shift();
    io.to(ROOM).emit('msg', msg);
  });

  socket.on('disconnect', () => {
    clearTimeout(helloTimer);
    if (!joined) return;
    const c = (present.get(me.id) || 1) - 1;
    if (c <= 0) {
      present.delete(me.id);
      userBuckets.delete(me.id);
    } else {
      present.set(me.id, c);
    }
  });
});

let lastSent = -1;
let tick = 0;
setInterval(() => {
  tick += 1;
  const current = present.size;
  if (current !== lastSent || tick % VIEWERS_FORCE_EVERY === 0) {
    lastSent = current;
    io.to(ROOM).emit('viewers', { current, peak });
  }
}, VIEWERS_INTERVAL_MS).unref();

http.listen({ host, port, backlog: 1024 }, () => {
  const a = http.address();
  console.log(`socket.io chat listening on ${a.address}:${a.port}`);
});

for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => {
    io.close();
    process.exit(0);
  });
}
