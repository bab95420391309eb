'use strict';

// Reference broadcast chat server on the `ws` package (one process, no clustering).
//
//   node ws-server.js [port]      port 0 or missing = any free port
//
// Prints `listening <port>` once the HTTP server is bound.
// Websocket endpoint: GET /ws?user=<name>&rooms=<room1,room2,...>
// Client -> server text frame: {"room":"<name>","content":"<string>"}
// Server -> room members:      {"room":"<name>","from":"<user>","content":"<string>"}
// Server -> sender on error:   {"error":"<reason>"}

const http = require('node:http');
const { WebSocketServer, WebSocket } = require('ws');

const port = parsePort(process.argv[2]);

/** @type {Map<string, Set<WebSocket>>} */
const rooms = new Map();

const server = http.createServer((req, res) => {
  res.writeHead(404, { 'content-type': 'text/plain' });
  res.end('not found\n');
});

const wss = new WebSocketServer({
  noServer: true,
  perMessageDeflate: false,
  maxPayload: 64 * 1024,
});

server.on('upgrade', (req, socket, head) => {
  socket.on('error', () => socket.destroy());
  const url = new URL(req.url, 'http://localhost');
  if (url.pathname !== '/ws') {
    socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    return;
  }
  wss.handleUpgrade(req, socket, head, (ws) => {
    const user = url.searchParams.get('user') ?? 'anonymous';
    const names = (url.searchParams.get('rooms') ?? '').split(',').filter(Boolean);
    onConnection(ws, user, names);
  });
});

function onConnection(ws, user, names) {
  const joined = [];
  for (const name of names) {
    let members = rooms.get(name);
    if (members === undefined) {
      members = new Set();
      rooms.set(name, members);
    }
    members.add(ws);
    joined.push(members);
  }

  ws.on('message', (data) => {
    let msg;
    try {
      msg = JSON.parse(data.toString());
    } catch {
      sendError(ws, 'invalid JSON');
      return;
    }
    if (msg === null || typeof msg !== 'object' ||
        typeof msg.room !== 'string' || typeof msg.content !== 'string') {
      sendError(ws, 'expected {"room":string,"content":string}');
      return;
    }
    const members = rooms.get(msg.room);
    if (members === undefined) {
      sendError(ws, 'unknown room');
      return;
    }
    const out = JSON.stringify({ room: msg.room, from: user, content: msg.content });
    for (const peer of members) {
      if (peer.readyState === WebSocket.OPEN) peer.send(out);
    }
  });

  ws.on('close', () => {
    for (let i = 0; i < names.length; i++) {
      const members = joined[i];
      members.delete(ws);
      if (members.size === 0 && rooms.get(names[i]) === members) rooms.delete(names[i]);
    }
  });

  // Without a listener, protocol errors (oversized frame, bad UTF-8) would crash the process.
  ws.on('error', () => {});
}

function sendError(ws, reason) {
  if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ error: reason }));
}

function parsePort(arg) {
  const n = arg === undefined ? 0 : Number(arg);
  if (!Number.isInteger(n) || n < 0 || n > 65535) {
    console.error(`usage: node ws-server.js [port]  (bad port: ${arg})`);
    process.exit(2);
  }
  return n;
}

function shutdown() {
  for (const ws of wss.clients) ws.terminate();
  wss.close();
  server.close(() => process.exit(0));
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 2000).unref();
}
process.once('SIGTERM', shutdown);
process.once('SIGINT', shutdown);

server.listen(port, () => {
  console.log(`listening ${server.address().port}`);
});
