// `/ws-push` (spec §9): one subscribe message, then an event for every stored message in any of
// our chats. Reconnects like the chat socket; after each (re)subscription the page reloads its
// chat list, whose unread counts the server keeps, so nothing pushed while away is lost.
// A close with 1008 "session ended" (our login was ended) emits 'ended' and stops; other
// closes, rate limits included, reconnect.

import { attemptAfter, backoff, closeKind, socketUrl } from './chatsocket.js';

export class PushSocket extends EventTarget {
  constructor({ userToken }) {
    super();
    this.userToken = userToken;
    this.ws = null;
    this.stopped = false;
    this.attempt = 0;
    this.timer = 0;
    this.onOnline = () => {
      if (!this.ws && !this.stopped) {
        clearTimeout(this.timer);
        this.attempt = 0;
        this.connect();
      }
    };
    window.addEventListener('online', this.onOnline);
  }

  emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  start() {
    this.connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    window.removeEventListener('online', this.onOnline);
    this.ws?.close(1000, 'logout');
    this.ws = null;
  }

  connect() {
    if (this.stopped || navigator.onLine === false) return;
    const ws = new WebSocket(socketUrl('/ws-push'));
    this.ws = ws;
    ws.addEventListener('open', () => ws.send(JSON.stringify({ userToken: this.userToken() })));
    ws.addEventListener('message', (event) => {
      if (ws !== this.ws || typeof event.data !== 'string') return;
      let m;
      try {
        m = JSON.parse(event.data);
      } catch {
        return;
      }
      if (m.msgType === 'keepalive') return;
      if (m.msgType === 'accept') {
        this.attempt = 0;
        this.emit('ready');
      } else if (m.msgType === 'reject') {
        this.emit('denied', m.content);
        ws.close(4000, 'rejected');
      } else {
        this.emit('push', m);
      }
    });
    ws.addEventListener('close', (event) => {
      if (ws !== this.ws) return;
      this.ws = null;
      if (this.stopped) return;
      const kind = closeKind(event);
      if (kind === 'ended') {
        this.stop();
        this.emit('ended', event.reason);
        return;
      }
      this.attempt = attemptAfter(kind, this.attempt);
      this.emit('offline');
      if (navigator.onLine === false) return; // the 'online' event reconnects
      this.timer = setTimeout(() => this.connect(), backoff(this.attempt));
      this.attempt += 1;
    });
  }
}
