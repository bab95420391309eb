// Smoke test for ws-server.js and socketio-server.js, using `ws` as a raw websocket client
// (Socket.IO is spoken as raw Engine.IO v4 / Socket.IO v5 frames, like the Rust client does).
//
//   node smoke.mjs        exits 0 when both servers pass, 1 with a message otherwise

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';

const here = fileURLToPath(new URL('.', import.meta.url));
const QUIET_MS = 300;
const TIMEOUT_MS = 5000;

class Failure extends Error {}
const fail = (msg) => { throw new Failure(msg); };

function startServer(script) {
  const child = spawn(process.execPath, [script, '0'], { cwd: here, stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Failure(`${script}: no "listening <port>" line within ${TIMEOUT_MS} ms`)), TIMEOUT_MS);
    const onExit = (code, sig) => reject(new Failure(`${script} exited early (code ${code}, signal ${sig})`));
    child.on('exit', onExit);
    child.stdout.on('data', (d) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      const line = buf.slice(0, nl);
      const m = /^listening (\d+)$/.exec(line);
      clearTimeout(timer);
      child.off('exit', onExit);
      if (!m) reject(new Failure(`${script}: first stdout line was ${JSON.stringify(line)}`));
      else resolve({ child, port: Number(m[1]) });
    });
  });
}

/** Starts `script`, runs body(port), stops the server; reports a crash during the body as such. */
async function withServer(script, body) {
  const { child, port } = await startServer(script);
  let exited = null;
  child.on('exit', (code, sig) => { exited = `code ${code}, signal ${sig}`; });
  try {
    await body(port);
    if (exited !== null) fail(`${script} exited during the test (${exited})`);
  } catch (err) {
    if (exited === null) await delay(100);
    if (exited !== null) fail(`${script} died during the test (${exited}); then: ${err.message}`);
    throw err;
  } finally {
    await stopServer(child, script);
  }
}

async function stopServer(child, script) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), TIMEOUT_MS);
  const [code, sig] = await exited;
  clearTimeout(timer);
  if (code !== 0) fail(`${script}: SIGTERM should exit 0, got code ${code} signal ${sig}`);
}

function httpStatus(port, path) {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path }, (res) => { res.resume(); resolve(res.statusCode); }).on('error', reject);
  });
}

/** A raw websocket client that records every text frame it receives. */
class Client {
  constructor(name, url, { engineIo = false } = {}) {
    this.name = name;
    this.frames = [];
    this.waiters = [];
    this.ws = new WebSocket(url, { perMessageDeflate: false });
    this.ws.on('message', (data, isBinary) => {
      const s = data.toString();
      if (engineIo && !isBinary && s === '2') { this.ws.send('3'); return; } // Engine.IO ping -> pong
      this.frames.push(s);
      for (const w of this.waiters.slice()) w();
    });
    this.ws.on('error', () => {});
  }

  async open() {
    const [ok] = await Promise.race([
      once(this.ws, 'open').then(() => [true]),
      once(this.ws, 'close').then(() => [false]),
      delay(TIMEOUT_MS).then(() => [false]),
    ]);
    if (!ok) fail(`${this.name}: websocket did not open`);
  }

  /** Resolves with the first frame (consumed) matching pred. */
  take(pred, what) {
    return new Promise((resolve, reject) => {
      const check = () => {
        const i = this.frames.findIndex(pred);
        if (i < 0) return false;
        const [f] = this.frames.splice(i, 1);
        this.waiters = this.waiters.filter((w) => w !== check);
        clearTimeout(timer);
        resolve(f);
        return true;
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== check);
        reject(new Failure(`${this.name}: timed out waiting for ${what}; unconsumed frames: ${JSON.stringify(this.frames)}`));
      }, TIMEOUT_MS);
      if (!check()) this.waiters.push(check);
    });
  }

  send(s) { this.ws.send(s); }
  close() { this.ws.terminate(); }
}

const delay = (ms) => new Promise((r) => setTimeout(r, ms));

/** After the expected frames were taken: nobody may hold any further frame. */
function assertNoLeftovers(clients, members, label) {
  for (const c of clients) {
    if (c.frames.length === 0) continue;
    const who = members.includes(c) ? `${c.name} (room member) got extra/duplicate` : `${c.name} (not a room member) got`;
    fail(`${label}: ${who} frames ${JSON.stringify(c.frames)}`);
  }
}

// ---------------------------------------------------------------------------------------------

async function smokeWs() {
  const script = 'ws-server.js';
  const clients = [];
  await withServer(script, async (port) => {
    const status = await httpStatus(port, '/nope');
    if (status !== 404) fail(`${script}: GET /nope should be 404, got ${status}`);

    const mk = (user, rooms) => new Client(`ws:${user}`, `ws://127.0.0.1:${port}/ws?user=${user}&rooms=${rooms}`);
    const [a1, a2, a3, b1] = [mk('a1', 'a'), mk('a2', 'a'), mk('a3', 'a'), mk('b1', 'b')];
    clients.push(a1, a2, a3, b1);
    await Promise.all(clients.map((c) => c.open()));

    a1.send(JSON.stringify({ room: 'a', content: 'hello a' }));
    const expected = JSON.stringify({ room: 'a', from: 'a1', content: 'hello a' });
    for (const c of [a1, a2, a3]) {
      const f = await c.take(() => true, 'the room "a" broadcast');
      if (f !== expected) fail(`${c.name}: expected ${expected}, got ${f}`);
    }
    await delay(QUIET_MS);
    assertNoLeftovers(clients, [a1, a2, a3], `${script} broadcast`);

    // Error paths: reply to the sender only, server keeps running.
    a2.send('{not json');
    const e1 = JSON.parse(await a2.take(() => true, 'error reply to bad JSON'));
    if (typeof e1.error !== 'string') fail(`${script}: bad JSON should get {"error":...}, got ${JSON.stringify(e1)}`);
    a2.send(JSON.stringify({ room: 'zzz', content: 'x' }));
    const e2 = JSON.parse(await a2.take(() => true, 'error reply to unknown room'));
    if (typeof e2.error !== 'string') fail(`${script}: unknown room should get {"error":...}, got ${JSON.stringify(e2)}`);
    await delay(QUIET_MS);
    assertNoLeftovers(clients, [a1, a2, a3], `${script} error replies`);

    b1.send(JSON.stringify({ room: 'b', content: 'still alive?' }));
    const f = await b1.take(() => true, 'echo in room "b" after the error cases');
    if (JSON.parse(f).from !== 'b1') fail(`${script}: unexpected frame ${f}`);
  }).finally(() => clients.forEach((c) => c.close()));
}

async function smokeSocketIo() {
  const script = 'socketio-server.js';
  const clients = [];
  await withServer(script, async (port) => {
    const status = await httpStatus(port, '/nope');
    if (status !== 404) fail(`${script}: GET /nope should be 404, got ${status}`);

    const mk = (user, rooms) => new Client(`sio:${user}`,
      `ws://127.0.0.1:${port}/socket.io/?EIO=4&transport=websocket&user=${user}&rooms=${rooms}`, { engineIo: true });
    const [a1, a2, a3, b1] = [mk('a1', 'a'), mk('a2', 'a'), mk('a3', 'a'), mk('b1', 'b')];
    clients.push(a1, a2, a3, b1);
    await Promise.all(clients.map((c) => c.open()));

    // Engine.IO open packet, then connect the default namespace.
    await Promise.all(clients.map(async (c) => {
      const open = await c.take((f) => f.startsWith('0'), 'Engine.IO open packet 0{...}');
      const hs = JSON.parse(open.slice(1));
      if (typeof hs.sid !== 'string' || typeof hs.pingInterval !== 'number') fail(`${c.name}: bad open packet ${open}`);
      c.send('40');
      const ack = await c.take((f) => f.startsWith('40'), 'namespace CONNECT ack 40{"sid":...}');
      if (typeof JSON.parse(ack.slice(2)).sid !== 'string') fail(`${c.name}: bad connect ack ${ack}`);
    }));

    a1.send('42' + JSON.stringify(['chat', { room: 'a', content: 'hello a' }]));
    const expected = '42' + JSON.stringify(['chat', { room: 'a', from: 'a1', content: 'hello a' }]);
    for (const c of [a1, a2, a3]) {
      const f = await c.take(() => true, 'the room "a" broadcast');
      if (f !== expected) fail(`${c.name}: expected ${expected}, got ${f}`);
    }
    await delay(QUIET_MS);
    assertNoLeftovers(clients, [a1, a2, a3], `${script} broadcast`);

    // Malformed payloads are ignored; the server keeps running.
    a2.send('42["chat","not an object"]');
    a2.send('42["chat",null]');
    a2.send('42["chat",{"room":1,"content":"x"}]');
    b1.send('42' + JSON.stringify(['chat', { room: 'b', content: 'still alive?' }]));
    const f = await b1.take(() => true, 'echo in room "b" after malformed payloads');
    if (f !== '42["chat",{"room":"b","from":"b1","content":"still alive?"}]') fail(`${script}: unexpected frame ${f}`);
    await delay(QUIET_MS);
    assertNoLeftovers(clients, [a1, a2, a3, b1], `${script} malformed payloads`);
  }).finally(() => clients.forEach((c) => c.close()));
}

let failed = false;
for (const [name, run] of [['ws-server.js', smokeWs], ['socketio-server.js', smokeSocketIo]]) {
  try {
    await run();
    console.log(`ok   ${name}`);
  } catch (err) {
    failed = true;
    console.error(`FAIL ${name}: ${err instanceof Failure ? err.message : err.stack}`);
  }
}
process.exit(failed ? 1 : 0);
