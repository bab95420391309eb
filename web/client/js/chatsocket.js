// One chat's `/ws-chat` connection (spec §8), kept alive: it reconnects with exponential
// backoff and jitter, goes `online` with a fresh session token each time, and tells the page
// when it is ready so the page can fetch what was sent while it was away.
//
// Uploads are one binary message each (header JSON, `<#BinaryInfo#>`, bytes; §8.4), sent one
// after another. Progress is what the browser reports: `bufferedAmount` is the part of the
// message not yet handed to the network, so the bar shows bytes sent; at 100 % the server
// still stores the file (and makes a thumbnail) before its echo arrives ("Processing").
// Cancelling an upload that is being sent closes the socket so the server drops the partial
// message, then reconnects; a queued upload is simply never sent. Once every byte is out,
// the upload can no longer be cancelled.
//
// A close with code 1008 (policy) and reason "session ended" means this device's login was
// ended (signed out from another device, a password change, a logout): the socket stops and
// emits 'ended' so the page signs out instead of reconnecting. Any other 1008 ("rate limit
// exceeded", "authentication timeout") reconnects like a lost connection, but not sooner than
// a few seconds.

const MARKER = new TextEncoder().encode('<#BinaryInfo#>');
const MAX_DELAY_MS = 15000;
const BASE_DELAY_MS = 400;

export function socketUrl(path) {
  return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}${path}`;
}

/** The close code a server uses for policy closes (RFC 6455 §7.4.1). */
const POLICY = 1008;
/** After a policy close, reconnect no sooner than this attempt's backoff (0.8 to 1.6 s). */
const POLICY_ATTEMPT = 2;

/**
 * What a socket's close means: 'ended' (our login was ended: sign out), 'policy' (a limit:
 * reconnect, slowly) or 'lost' (anything else: reconnect).
 */
export function closeKind(event) {
  if (event.code !== POLICY) return 'lost';
  return /^session ended/i.test(event.reason) ? 'ended' : 'policy';
}

/** The attempt count to go on with after a close of this kind. */
export function attemptAfter(kind, attempt) {
  return kind === 'policy' ? Math.max(attempt, POLICY_ATTEMPT) : attempt;
}

/** Exponential backoff with "equal jitter": half fixed, half random. */
export function backoff(attempt) {
  const ceiling = Math.min(MAX_DELAY_MS, BASE_DELAY_MS * 2 ** attempt);
  return ceiling / 2 + Math.random() * (ceiling / 2);
}

/** One upload's progress: events 'progress', 'done', 'failed'. */
export class Upload extends EventTarget {
  constructor(blob, { fileName, fileType, replyTo = null }) {
    super();
    this.blob = blob;
    this.replyTo = replyTo; // the seq of the message it answers, or null
    this.fileName = fileName; // undefined for voice (CookIM's client sends none)
    this.fileType = fileType;
    this.size = blob.size;
    this.sent = 0;
    this.state = 'queued'; // queued | sending | processing | done | failed | cancelled
    this.error = '';
    this.cancel = () => {};
  }

  update(state, extra = {}) {
    Object.assign(this, { state }, extra);
    this.dispatchEvent(new Event(state === 'done' || state === 'failed' || state === 'cancelled' ? state : 'progress'));
    if (state === 'cancelled') this.dispatchEvent(new Event('failed'));
  }
}

export class ChatSocket extends EventTarget {
  /**
   * @param {object} o
   * @param {string} o.uid our uid (to spot our own echo)
   * @param {() => string} o.userToken the current user token
   * @param {() => Promise<string>} o.sessionToken a fresh session token for this chat
   * @param {() => Promise<number|null>} [o.after] the last message seq we have: sent with
   *   `online`, so the server sends every message after it, then live ones, each with its `seq`
   */
  constructor({ uid, userToken, sessionToken, after = async () => null }) {
    super();
    Object.assign(this, { uid, userToken, sessionToken, after });
    this.ws = null;
    this.ready = false;
    this.stopped = false;
    this.attempt = 0;
    this.timer = 0;
    this.token = '';
    this.queue = []; // uploads waiting to be sent
    this.current = null; // the upload being sent or processed
    this.pendingTexts = []; // texts sent, waiting for their echo or a reject
    this.onOnline = () => this.reconnectNow();
    window.addEventListener('online', this.onOnline);
  }

  emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  setState(state) {
    this.state = state;
    this.emit('state', state);
  }

  start() {
    this.connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    window.removeEventListener('online', this.onOnline);
    for (const upload of [...this.queue, this.current].filter(Boolean)) {
      if (upload.state === 'queued' || upload.state === 'sending') upload.update('cancelled', { error: 'Upload cancelled: you left the chat.' });
    }
    this.queue = [];
    this.ws?.close(1000, 'leaving');
    this.ws = null;
  }

  reconnectNow() {
    if (this.stopped || (this.ws && this.ws.readyState <= WebSocket.OPEN)) return;
    clearTimeout(this.timer);
    this.attempt = 0;
    this.connect();
  }

  connect() {
    if (this.stopped) return;
    if (navigator.onLine === false) {
      this.setState('offline');
      return;
    }
    this.setState('connecting');
    const ws = new WebSocket(socketUrl('/ws-chat'));
    ws.binaryType = 'arraybuffer';
    this.ws = ws;
    ws.addEventListener('open', async () => {
      try {
        this.token = await this.sessionToken();
      } catch (e) {
        this.emit('fatal', e.message);
        this.stop();
        return;
      }
      // The last seq we have (the caller may load history first to learn it).
      let after = null;
      try {
        after = await this.after();
      } catch {
        after = null; // no history: go online without resuming, the caller lines history up
      }
      if (ws === this.ws && ws.readyState === WebSocket.OPEN) {
        // `ext` (a cookim extension): we also want typing and read-receipt frames.
        const online = { userToken: this.userToken(), sessionToken: this.token, msgType: 'online', content: '', ext: 1 };
        if (typeof after === 'number' && after >= 0) online.after = after;
        this.resumed = 'after' in online;
        ws.send(JSON.stringify(online));
      }
    });
    ws.addEventListener('message', (event) => {
      if (ws !== this.ws || typeof event.data !== 'string') return;
      let m;
      try {
        m = JSON.parse(event.data);
      } catch {
        return;
      }
      this.onMessage(m);
    });
    ws.addEventListener('close', (event) => {
      if (ws !== this.ws) return;
      this.ws = null;
      this.ready = false;
      this.pendingTexts = [];
      const cur = this.current;
      if (cur && (cur.state === 'sending' || cur.state === 'processing')) {
        // We cannot know whether the server got it; history after reconnecting will show it.
        cur.update('failed', { error: cur.state === 'sending' ? 'Connection lost while uploading. Try again.' : 'Connection lost; the file may still appear once reconnected.' });
        this.current = null;
      }
      if (this.stopped) return;
      const kind = closeKind(event);
      if (kind === 'ended') {
        this.stop();
        this.setState('ended');
        this.emit('ended', event.reason);
        return;
      }
      this.attempt = attemptAfter(kind, this.attempt);
      this.setState('offline');
      clearTimeout(this.timer);
      // While the browser knows it is offline, wait for its 'online' event instead.
      if (navigator.onLine === false) return;
      this.timer = setTimeout(() => this.connect(), backoff(this.attempt));
      this.attempt += 1;
    });
  }

  onMessage(m) {
    if (m.msgType === 'keepalive') return;
    if (!this.ready) {
      if (m.msgType === 'online' && m.uid === this.uid) {
        this.ready = true;
        this.attempt = 0;
        this.setState('online');
        this.emit('ready', { resumed: this.resumed });
        this.pump();
        return;
      }
      if (m.msgType === 'reject') {
        this.emit('error', m.content);
        this.ws?.close(4000, 'rejected');
        return;
      }
    }
    const cur = this.current;
    if (m.uid === this.uid && m.msgType === 'file' && (cur?.state === 'processing' || cur?.state === 'sending')) {
      // A small file's echo can come before we noticed the last byte leave.
      if ((cur.fileName ?? '') === m.fileName && cur.fileType === m.fileType) {
        if (cur.state === 'sending') cur.update('processing', { sent: cur.size }); // all bytes arrived
        this.current = null;
        cur.update('done');
        this.pump();
      }
    } else if (m.uid === this.uid && m.msgType === 'text') {
      const i = this.pendingTexts.indexOf(m.content);
      if (i >= 0) this.pendingTexts.splice(i, 1);
    } else if (m.msgType === 'reject') {
      // Replies come in the order we sent: a reject answers the oldest unanswered message,
      // whose text goes back to the page (to put back in the box: a rate limit loses nothing).
      let text = null;
      if (this.pendingTexts.length > 0) {
        text = this.pendingTexts.shift();
      } else if (cur?.state === 'processing' || cur?.state === 'sending') {
        this.current = null;
        cur.update('failed', { error: m.content });
        this.pump();
      }
      this.emit('rejected', { reason: m.content, text });
      return;
    }
    if (m.msgType === 'typing' || m.msgType === 'read') {
      this.emit(m.msgType, m);
      return;
    }
    this.emit('message', m);
  }

  /** Tells the others we are composing (the server forwards one every 2 s at most). */
  sendTyping() {
    if (!this.ready || !this.ws) return;
    this.ws.send(JSON.stringify({ userToken: this.userToken(), sessionToken: this.token, msgType: 'typing' }));
  }

  /** Moves our read mark to `seq` (the server keeps the highest, once a second at most). */
  sendRead(seq) {
    if (!this.ready || !this.ws) return false;
    this.ws.send(JSON.stringify({ userToken: this.userToken(), sessionToken: this.token, msgType: 'read', seq }));
    return true;
  }

  /** Sends a text (answering message `replyTo`, if given); false if not connected (the
   * caller keeps the draft). */
  sendText(content, replyTo = null) {
    if (!this.ready || !this.ws) return false;
    const up = { userToken: this.userToken(), sessionToken: this.token, msgType: 'text', content };
    if (typeof replyTo === 'number') up.replyTo = replyTo;
    this.ws.send(JSON.stringify(up));
    this.pendingTexts.push(content.trim());
    return true;
  }

  /** Queues an upload; returns its Upload. */
  upload(blob, { fileName, fileType, replyTo = null }) {
    const upload = new Upload(blob, { fileName, fileType, replyTo });
    upload.cancel = () => this.cancel(upload);
    this.queue.push(upload);
    queueMicrotask(() => this.pump());
    return upload;
  }

  cancel(upload) {
    if (upload.state === 'queued') {
      this.queue = this.queue.filter((u) => u !== upload);
      upload.update('cancelled', { error: 'Upload cancelled.' });
    } else if (upload.state === 'sending' && this.current === upload) {
      this.current = null;
      upload.update('cancelled', { error: 'Upload cancelled.' });
      // Closing drops the half-sent message on the server; then come straight back.
      const ws = this.ws;
      this.ws = null;
      this.ready = false;
      ws?.close(4001, 'upload cancelled');
      this.attempt = 0;
      this.connect();
    }
  }

  async pump() {
    if (this.current || !this.ready || this.queue.length === 0) return;
    const upload = this.queue.shift();
    this.current = upload;
    let bytes;
    try {
      bytes = new Uint8Array(await upload.blob.arrayBuffer());
    } catch {
      this.current = null;
      upload.update('failed', { error: 'Could not read the file.' });
      this.pump();
      return;
    }
    const ws = this.ws;
    if (this.current !== upload || !ws || !this.ready) {
      if (this.current === upload) {
        this.current = null;
        this.queue.unshift(upload);
      }
      return;
    }
    const header = new TextEncoder().encode(JSON.stringify({
      userToken: this.userToken(),
      sessionToken: this.token,
      msgType: 'file',
      fileName: upload.fileName,
      fileSize: upload.size,
      fileType: upload.fileType,
      ...(typeof upload.replyTo === 'number' ? { replyTo: upload.replyTo } : {}),
    }));
    const frame = new Uint8Array(header.length + MARKER.length + bytes.length);
    frame.set(header, 0);
    frame.set(MARKER, header.length);
    frame.set(bytes, header.length + MARKER.length);
    const before = ws.bufferedAmount;
    ws.send(frame);
    upload.update('sending', { sent: 0 });
    const total = frame.length;
    const tick = () => {
      if (this.current !== upload || upload.state !== 'sending') return;
      const left = Math.max(0, ws.bufferedAmount - before);
      const sent = Math.min(upload.size, Math.round(((total - left) / total) * upload.size));
      if (left === 0) {
        upload.update('processing', { sent: upload.size });
      } else {
        upload.update('sending', { sent });
        setTimeout(tick, 50);
      }
    };
    tick();
  }
}
