'use strict';

// Reference broadcast chat server on Socket.IO v4 (websocket transport only, one process).
//
//   node socketio-server.js [port]      port 0 or missing = any free port
//
// Prints `listening <port>` once the HTTP server is bound.
// Endpoint: /socket.io/?EIO=4&transport=websocket&user=<name>&rooms=<room1,room2,...>
// Event `chat` {room, content}  ->  io.to(room).emit('chat', {room, from: user, content})
// See README.md for the raw Engine.IO / Socket.IO frames.

const http = require('node:http');
const { Server } = require('socket.io');

const port = parsePort(process.argv[2]);

// Socket.IO takes over /socket.io/ and hands every other request to this handler.
const httpServer = http.createServer((req, res) => {
  res.writeHead(404, { 'content-type': 'text/plain' });
  res.end('not found\n');
});

const io = new Server(httpServer, {
  transports: ['websocket'],
  perMessageDeflate: false,
  maxHttpBufferSize: 65536,
  serveClient: false,
});

io.on('connection', (socket) => {
  const { user, rooms } = socket.handshake.query;
  const from = typeof user === 'string' ? user : 'anonymous';
  if (typeof rooms === 'string') socket.join(rooms.split(',').filter(Boolean));

  socket.on('chat', (msg) => {
    if (msg === null || typeof msg !== 'object' ||
        typeof msg.room !== 'string' || typeof msg.content !== 'string') {
      return;
    }
    io.to(msg.room).emit('chat', { room: msg.room, from, content: msg.content });
  });
});

function parsePort(arg) {
  const n = arg === undefined ? 0 : Number(arg);
  if (!Number.isInteger(n) || n < 0 || n > 65535) {
    console.error(`usage: node socketio-server.js [port]  (bad port: ${arg})`);
    process.exit(2);
  }
  return n;
}

function shutdown() {
  io.close(() => process.exit(0));
  httpServer.closeAllConnections();
  setTimeout(() => process.exit(0), 2000).unref();
}
process.once('SIGTERM', shutdown);
process.once('SIGINT', shutdown);

httpServer.listen(port, () => {
  console.log(`listening ${httpServer.address().port}`);
});
