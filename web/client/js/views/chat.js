// One chat: history with "load older", live messages over /ws-chat (reconnecting, nothing
// missed or shown twice), text, files, images, voice, uploads with progress and cancel,
// drag-and-drop and paste.

import { auth, authed } from '../api.js';
import { app } from '../state.js';
import { ChatSocket } from '../chatsocket.js';
import { avatar, fileUrl, formatSize, h, icon, linkified, replace } from '../dom.js';
import { isStored, newerThan, olderThan, withoutEchoes } from '../history.js';
import { dayLabel, parseTimestr, sameDay, timeElement } from '../time.js';
import { MAX_SECONDS, canRecord, startRecording } from '../voice.js';
import { joinedUsers, sessionMenu, userMenu, viewImage } from './dialogs.js';

const PAGE = 30;
const MAX_PAGE = 500; // the server's largest page
/** cookim's default upload limit (`max_file`); the server has the last word and says why. */
const MAX_FILE = 8 * 1024 * 1024;

export function view(main, sid, focusSeq) {
  app.currentSid = sid;
  app.clearUnread(sid);
  const listed = app.sessions.find((s) => s.sessionid === sid);
  let header = { sessionName: listed?.sessionName ?? '', sessionIcon: listed?.sessionIcon ?? '', ouid: '' };
  let stored = []; // stored messages shown, oldest first, contiguous up to the newest
  let hasOlder = false;
  let syncing = false;
  let buffer = [];
  let alive = true;

  // ---- layout ----
  const titleIcon = h('span', { class: 'chat-title-icon' });
  const titleName = h('span', { class: 'chat-title-name' });
  const status = h('span', { class: 'chat-status', role: 'status' }, 'Connecting…');
  const titleButton = h('button', { class: 'chat-title', type: 'button', onclick: () => openMenu() }, titleIcon, h('span', { class: 'chat-title-text' }, titleName, status));
  const membersButton = h('button', { class: 'icon-button', type: 'button', 'aria-label': 'Members', title: 'Members', onclick: () => joinedUsers(sid) }, icon('users'));
  const menuButton = h('button', { class: 'icon-button', type: 'button', 'aria-label': 'Chat options', title: 'Chat options', onclick: () => openMenu() }, icon('more'));
  const older = h('button', { class: 'button small load-older', type: 'button', hidden: true, onclick: () => loadOlder() }, 'Load older messages');
  const log = h('ol', { class: 'messages', role: 'log', 'aria-label': 'Messages', 'aria-live': 'polite' });
  const uploads = h('ul', { class: 'uploads', 'aria-label': 'Uploads' });
  const scroller = h('div', { class: 'scroller' }, h('div', { class: 'older-row' }, older), log, uploads);
  const text = h('textarea', { class: 'composer-input', rows: 1, 'aria-label': 'Message', placeholder: 'Write a message…', maxlength: 16384 });
  const fileInput = h('input', { type: 'file', multiple: true, class: 'visually-hidden', 'aria-label': 'Choose files to send', tabindex: '-1' });
  const imageInput = h('input', { type: 'file', multiple: true, accept: 'image/*', class: 'visually-hidden', 'aria-label': 'Choose images to send', tabindex: '-1' });
  const micButton = h('button', { class: 'icon-button', type: 'button', 'aria-label': 'Record a voice message', title: 'Record a voice message', onclick: () => toggleRecording() }, icon('mic'));
  const recordingBar = h('div', { class: 'recording', hidden: true, role: 'status' });
  const typingLine = h('div', { class: 'typing-line muted small', role: 'status', 'aria-live': 'polite' });
  const replyBar = h('div', { class: 'reply-bar', hidden: true, role: 'group', 'aria-label': 'Replying to' });
  const composer = h('form', { class: 'composer', 'aria-label': 'Send a message' },
    fileInput, imageInput,
    h('button', { class: 'icon-button', type: 'button', 'aria-label': 'Attach a file', title: 'Attach a file', onclick: () => fileInput.click() }, icon('attach')),
    h('button', { class: 'icon-button', type: 'button', 'aria-label': 'Send an image', title: 'Send an image', onclick: () => imageInput.click() }, icon('image')),
    text,
    canRecord() ? micButton : null,
    h('button', { class: 'send-button', type: 'submit', 'aria-label': 'Send', title: 'Send (Enter)' }, icon('send')));
  const dropHint = h('div', { class: 'drop-hint', 'aria-hidden': 'true' }, icon('attach'), 'Drop files to send');
  const section = h('section', { class: 'chat', 'aria-label': 'Chat' },
    h('header', { class: 'chat-header' },
      h('a', { class: 'icon-button back', href: '#/chats', 'aria-label': 'Back to chats' }, icon('back')),
      titleButton, membersButton, menuButton),
    scroller, typingLine, replyBar, recordingBar, composer, dropHint);
  main.append(section);

  const renderHeader = () => {
    const name = header.sessionName || 'Chat';
    replace(titleIcon, avatar(header.sessionIcon, name));
    titleName.textContent = name;
    titleButton.setAttribute('aria-label', `${name}: ${header.ouid ? 'person options' : 'chat options'}`);
    document.title = `${name} · cookim`;
  };
  renderHeader();

  function openMenu() {
    if (header.ouid) userMenu(header.ouid, { privateSid: sid });
    else sessionMenu(sid);
  }

  // ---- rendering ----
  const nearBottom = () => scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 150;
  const toBottom = () => {
    scroller.scrollTop = scroller.scrollHeight;
  };
  let lastShown = null; // the last message rendered in the log (for day separators and runs)

  function messageEl(m, prev) {
    const date = parseTimestr(m.dateline);
    const nodes = [];
    if (date && !(prev && sameDay(parseTimestr(prev.dateline), date))) {
      nodes.push(h('li', { class: 'day', role: 'separator', 'aria-label': dayLabel(date) }, h('span', null, dayLabel(date))));
    }
    if (!(m.msgType === 'text' || m.msgType === 'file')) {
      nodes.push(h('li', { class: 'notice' }, h('span', null, noticeText(m), ' · ', timeElement(date))));
      return nodes;
    }
    const mine = m.uid === app.me.uid;
    const prevDate = prev ? parseTimestr(prev.dateline) : null;
    const continued = prev && prev.uid === m.uid && (prev.msgType === 'text' || prev.msgType === 'file') && date && prevDate && date - prevDate < 5 * 60 * 1000;
    const ticks = mine && typeof m.seq === 'number' ? tickEl(m.seq) : null;
    const quote = typeof m.replyTo === 'number' && m.replyPreview
      ? h('button', { class: 'reply-quote', type: 'button', 'aria-label': `In reply to ${m.replyPreview.nickname}: ${m.replyPreview.content}. Show it`, onclick: () => focusMessage(m.replyTo) },
        h('span', { class: 'reply-quote-name' }, m.replyPreview.nickname), h('span', { class: 'reply-quote-text' }, m.replyPreview.content))
      : null;
    const bubble = h('div', { class: `bubble${m.msgType === 'file' ? ' bubble-file' : ''}` }, quote, content(m), timeElement(date, 'msg-time'), ticks);
    const replyButton = typeof m.seq === 'number'
      ? h('button', { class: 'icon-button reply-button', type: 'button', 'aria-label': `Reply to ${m.nickname}`, title: 'Reply', onclick: () => startReply(m) }, icon('reply'))
      : null;
    const who = mine ? null : continued ? h('span', { class: 'avatar-space' })
      : h('button', { class: 'avatar-button', type: 'button', 'aria-label': `${m.nickname}: options`, onclick: () => userMenu(m.uid) }, avatar(m.avatar, m.nickname, 'sm'));
    nodes.push(h('li', { class: `msg${mine ? ' mine' : ''}${continued ? ' continued' : ''}`, dataset: typeof m.seq === 'number' ? { seq: String(m.seq) } : {} },
      who,
      h('div', { class: 'msg-body' },
        mine || continued ? null : h('span', { class: 'msg-author' }, m.nickname),
        bubble),
      replyButton));
    return nodes;
  }

  function noticeText(m) {
    if (m.msgType === 'online') return `${m.nickname} opened the chat`;
    if (m.msgType === 'offline') return `${m.nickname} left the chat window`;
    if (m.msgType === 'join') return `${m.nickname} joined${header.ouid ? ' the chat' : ' the group'}`;
    if (m.msgType === 'leave') return `${m.nickname} left the group`;
    return m.content;
  }

  function content(m) {
    if (m.msgType === 'text') return h('p', { class: 'msg-text' }, linkified(m.content));
    const name = m.fileName || (m.fileType === 'audio/wav' ? 'Voice message' : 'File');
    if (m.thumbid) {
      const img = h('img', { class: 'thumb', src: fileUrl(m.thumbid), alt: `Image ${name}` });
      img.addEventListener('load', () => {
        if (pinned) toBottom();
      });
      return h('button', { class: 'thumb-button', type: 'button', 'aria-label': `Open image ${name}`, onclick: () => viewImage(m.fileid, m.fileName) }, img);
    }
    if (m.fileType === 'audio/wav' || (m.fileType.startsWith('audio/') && !m.fileName)) {
      return h('div', { class: 'voice' }, icon('mic'), h('audio', { controls: true, preload: 'metadata', src: fileUrl(m.fileid), 'aria-label': `Voice message from ${m.nickname}` }));
    }
    const size = h('span', { class: 'file-size muted small' });
    fetch(`/api/getFileMeta?id=${encodeURIComponent(m.fileid)}`)
      .then((r) => r.json())
      .then((meta) => {
        if (!meta.errmsg) size.textContent = formatSize(meta.fileSize);
      })
      .catch(() => {});
    return h('div', { class: 'file-card' },
      h('span', { class: 'file-icon' }, icon('file')),
      h('span', { class: 'file-text' }, h('span', { class: 'file-name' }, name), size),
      h('a', { class: 'icon-button', href: fileUrl(m.fileid), download: name, 'aria-label': `Download ${name}`, title: 'Download' }, icon('download')));
  }

  let pinned = true;
  scroller.addEventListener('scroll', () => {
    pinned = nearBottom();
  });

  function appendShown(m) {
    const stick = nearBottom() || m.uid === app.me.uid;
    log.append(...messageEl(m, lastShown));
    lastShown = m;
    if (stick) {
      pinned = true;
      toBottom();
    }
  }

  function renderAll() {
    const fromBottom = scroller.scrollHeight - scroller.scrollTop;
    log.replaceChildren();
    lastShown = null;
    for (const m of shown) {
      log.append(...messageEl(m, lastShown));
      lastShown = m;
    }
    scroller.scrollTop = scroller.scrollHeight - fromBottom;
    older.hidden = !hasOlder;
    if (shown.length === 0) log.append(h('li', { class: 'empty-hint' }, 'No messages yet. Say hello!'));
  }

  let shown = []; // stored messages and live notices, in display order

  function addLive(m) {
    if (m.msgType === 'online' || m.msgType === 'offline') {
      if (m.uid !== app.me.uid) {
        shown.push(m);
        appendShown(m);
      }
      refreshPresence();
      return;
    }
    if (!isStored(m)) return;
    if (shown.length === 0) log.replaceChildren();
    stored.push(m);
    shown.push(m);
    appendShown(m);
    if (typists.delete(m.uid)) showTyping();
    markRead();
    if (m.msgType === 'join' || m.msgType === 'leave') refreshPresence();
  }

  // ---- receipts (a cookim extension) ----
  // Every member's read mark (`getReadMarks`, then live `read` frames) drives the ticks on our
  // own messages: one tick once stored, two once someone else has read it, two in colour once
  // everyone has. Our own mark moves as we see messages (the page visible, the newest shown).
  const marks = new Map(); // uid -> the last seq they have read
  const names = new Map(); // uid -> nickname, for "seen by"
  const tickEls = new Map(); // seq -> its ticks element
  function tickEl(seq) {
    const el = h('span', { class: 'ticks', 'data-seq': String(seq) });
    tickEls.set(seq, el);
    paintTicks(seq, el);
    return el;
  }
  function paintTicks(seq, el) {
    const others = [...marks.entries()].filter(([uid]) => uid !== app.me.uid);
    const seen = others.filter(([, mark]) => mark >= seq).map(([uid]) => names.get(uid) || 'someone');
    const all = others.length > 0 && seen.length === others.length;
    el.textContent = seen.length ? '✓✓' : '✓';
    el.classList.toggle('read-all', all);
    const label = seen.length === 0 ? 'Sent' : all ? `Read by everyone: ${seen.join(', ')}` : `Seen by ${seen.join(', ')}`;
    el.setAttribute('aria-label', label);
    el.title = label;
  }
  const repaintTicks = () => {
    for (const [seq, el] of tickEls) {
      if (el.isConnected) paintTicks(seq, el);
      else tickEls.delete(seq);
    }
  };
  async function loadMarks() {
    try {
      const [{ readMarks }, { onlineUsers, offlineUsers }] = await Promise.all([
        authed('getReadMarks', { sessionid: sid }),
        authed('getJoinedUsers', { sessionid: sid }),
      ]);
      if (!alive) return;
      for (const u of [...onlineUsers, ...offlineUsers]) names.set(u.uid, u.nickname);
      marks.clear();
      for (const { uid, seq } of readMarks) marks.set(uid, seq);
      repaintTicks();
    } catch {
      // Ticks are a nicety; the next read frame or reconnect tries again.
    }
  }
  let readSent = 0;
  let readTimer = 0;
  /** Tells the server we have seen everything shown, once the page is visible. */
  function markRead() {
    clearTimeout(readTimer);
    readTimer = setTimeout(() => {
      if (!alive || document.visibilityState !== 'visible' || lastSeq === null || lastSeq <= readSent) return;
      if (socket.sendRead(lastSeq)) readSent = lastSeq;
    }, 300);
  }
  const onVisible = () => markRead();
  document.addEventListener('visibilitychange', onVisible);

  // ---- typing (a cookim extension) ----
  const typists = new Map(); // uid -> { nickname, until }
  let typingTimer = 0;
  function showTyping() {
    clearTimeout(typingTimer);
    const now = Date.now();
    for (const [uid, t] of typists) if (t.until <= now) typists.delete(uid);
    const who = [...typists.values()].map((t) => t.nickname);
    typingLine.textContent = who.length === 0 ? ''
      : who.length === 1 ? `${who[0]} is typing…`
        : who.length === 2 ? `${who[0]} and ${who[1]} are typing…` : 'Several people are typing…';
    if (who.length) typingTimer = setTimeout(showTyping, Math.min(...[...typists.values()].map((t) => t.until)) - now + 50);
  }
  let typingSent = 0;
  function noteComposing() {
    if (!text.value.trim() || Date.now() - typingSent < 2000) return;
    typingSent = Date.now();
    socket.sendTyping();
  }

  // ---- history ----
  // `withSeq` (a cookim extension): each message carries its number in the chat, so the socket
  // can resume after the newest one we have.
  const list = (page, count) => authed('listMessages', { sessionid: sid, page, count, withSeq: 1 });
  /** The highest seq we have shown (null until history loaded): reconnects resume after it. */
  let lastSeq = null;
  const noteSeq = (messages) => {
    for (const m of messages) if (typeof m.seq === 'number' && (lastSeq === null || m.seq > lastSeq)) lastSeq = m.seq;
  };

  async function sync() {
    syncing = true;
    buffer = [];
    try {
      const first = stored.length === 0;
      const count = first ? PAGE : 100;
      let { messages } = await list(1, count);
      noteSeq(messages);
      if (lastSeq === null) lastSeq = 0;
      let { newer, overlap } = newerThan(stored, messages);
      if (!overlap) {
        ({ messages } = await list(1, MAX_PAGE));
        ({ newer, overlap } = newerThan(stored, messages));
        if (!overlap) {
          // Away for longer than a page holds: start over from the newest page.
          stored = [];
          shown = [];
          newer = messages.slice(-PAGE);
          hasOlder = messages.length > PAGE;
        }
      }
      if (!alive) return;
      if (first) {
        hasOlder = messages.length === count;
        stored = newer.slice();
        shown = newer.slice();
        renderAll();
        toBottom();
        if (focusSeq) queueMicrotask(() => focusMessage(Number(focusSeq)));
      } else if (shown.length === 0) {
        stored = newer.slice();
        shown = newer.slice();
        renderAll();
        toBottom();
      } else {
        for (const m of newer) addLive(m);
      }
      app.clearUnread(sid);
      for (const m of withoutEchoes(buffer, messages)) addLive(m);
      markRead();
    } catch (e) {
      if (alive) app.error(e);
      for (const m of buffer) addLive(m);
    } finally {
      buffer = [];
      syncing = false;
    }
  }

  /** Opens the chat at message `seq` (from a search result): older pages are loaded until
   * it is shown, then it is scrolled to and marked. */
  async function focusMessage(seq) {
    for (let tries = 0; tries < 20 && alive; tries += 1) {
      const el = log.querySelector(`li[data-seq="${seq}"]`);
      if (el) {
        pinned = false;
        for (const other of log.querySelectorAll('li.found')) other.classList.remove('found');
        el.classList.add('found');
        el.setAttribute('tabindex', '-1');
        el.scrollIntoView({ block: 'center' });
        el.focus({ preventScroll: true });
        return;
      }
      const oldest = stored.find((m) => typeof m.seq === 'number');
      if (!hasOlder || (oldest && oldest.seq <= seq)) break;
      await loadOlder();
    }
    if (alive) app.toast('That message is no longer in this chat’s history.');
  }

  async function loadOlder() {
    older.disabled = true;
    try {
      const have = stored.length;
      let page;
      let more;
      if (have + PAGE <= MAX_PAGE) {
        ({ messages: page } = await list(1, have + PAGE));
        more = page.length === have + PAGE;
      } else {
        // Two pages of 100 around where our oldest message is now.
        const p = Math.floor((have - 1) / 100) + 1;
        const [a, b] = await Promise.all([list(p + 1, 100), list(p, 100)]);
        page = [...a.messages, ...b.messages];
        more = a.messages.length === 100;
      }
      const earlier = olderThan(stored, page);
      if (earlier === null) throw new Error('Could not line up older messages; reopen the chat to see them.');
      hasOlder = more && earlier.length > 0;
      stored = [...earlier, ...stored];
      shown = [...earlier, ...shown];
      renderAll();
    } catch (e) {
      app.error(e);
    } finally {
      older.disabled = false;
    }
  }

  // ---- presence ----
  let presenceTimer = 0;
  function refreshPresence() {
    clearTimeout(presenceTimer);
    presenceTimer = setTimeout(async () => {
      try {
        const { onlineUsers, offlineUsers } = await authed('getJoinedUsers', { sessionid: sid });
        if (!alive || socket.state !== 'online') return;
        const total = onlineUsers.length + offlineUsers.length;
        status.textContent = header.ouid ? (onlineUsers.some((u) => u.uid === header.ouid) ? 'In the chat now' : 'Private chat')
          : `${total} member${total === 1 ? '' : 's'}, ${onlineUsers.length} here now`;
      } catch {
        // Presence is a nicety; the next event tries again.
      }
    }, 300);
  }

  // ---- socket ----
  const socket = new ChatSocket({
    uid: app.me.uid,
    userToken: () => auth.token,
    sessionToken: async () => (await authed('sessionToken', { sessionid: sid })).sessionToken,
    // Until history is loaded we do not know what we have: load it first (the socket is
    // open then, so the network is up), and resume after its newest message.
    after: async () => {
      if (lastSeq === null) await sync();
      return lastSeq;
    },
  });
  socket.addEventListener('state', (e) => {
    section.dataset.connection = e.detail;
    if (e.detail === 'connecting') status.textContent = stored.length ? 'Reconnecting…' : 'Connecting…';
    else if (e.detail === 'offline') status.textContent = 'Offline, reconnecting…';
    else refreshPresence();
  });
  // A resumed connection brings what we missed itself (messages after `lastSeq`); otherwise
  // line history up with what we show.
  socket.addEventListener('ready', (e) => {
    if (e.detail?.resumed) app.clearUnread(sid);
    else sync();
    readSent = 0; // a new connection: say where we are again
    markRead();
    loadMarks();
  });
  socket.addEventListener('read', (e) => {
    const { uid, seq } = e.detail;
    if ((marks.get(uid) ?? -1) < seq) marks.set(uid, seq);
    repaintTicks();
  });
  socket.addEventListener('typing', (e) => {
    const { uid, nickname } = e.detail;
    typists.set(uid, { nickname, until: Date.now() + 5000 });
    showTyping();
  });
  socket.addEventListener('message', (e) => {
    const m = e.detail;
    if (typeof m.seq === 'number') {
      if (lastSeq !== null && m.seq <= lastSeq) return; // already shown
      lastSeq = m.seq;
    }
    if (syncing) buffer.push(m);
    else addLive(m);
  });
  let quietUntil = 0; // no second rate-limit toast before this time
  socket.addEventListener('rejected', (e) => {
    const { text: unsent } = e.detail;
    const reason = String(e.detail.reason ?? '').replace(/[.\s]+$/, '');
    // A refused text goes back in the box unless something new was typed meanwhile.
    const kept = unsent && !text.value.trim();
    if (kept) {
      text.value = unsent;
      grow();
    }
    if (/^rate limit/i.test(reason)) {
      // Not an error: sent too fast, the chat goes on. One toast for a burst of refusals.
      if (Date.now() < quietUntil) return;
      quietUntil = Date.now() + 4000;
      const wait = /retry in (\d+) ms/.exec(reason);
      const when = wait ? `in ${Math.max(1, Math.ceil(Number(wait[1]) / 1000))} s` : 'in a moment';
      app.toast(`Sending too fast (${reason}).${kept ? ` Your message is back in the box: send it again ${when}.` : ''}`);
    } else {
      app.refused(kept ? `${reason}. Your message is back in the box.` : reason);
    }
  });
  socket.addEventListener('error', (e) => app.refused(e.detail));
  // This device's login was ended elsewhere: sign out instead of reconnecting.
  socket.addEventListener('ended', () => {
    status.textContent = 'Signed out';
    app.signedOutHere();
  });
  socket.addEventListener('fatal', (e) => {
    status.textContent = 'Not available';
    replace(log, h('li', { class: 'empty-state error-text' }, e.detail));
    app.error(e.detail);
  });
  socket.start();

  authed('getSessionHeader', { sessionid: sid }).then(({ session }) => {
    header = session;
    renderHeader();
  }).catch((e) => alive && app.error(e));

  // ---- sending ----
  // ---- replies ----
  let replyingTo = null; // { seq, nickname, content } of the message answered
  function startReply(m) {
    const preview = m.msgType === 'file' ? (m.fileName || 'Voice message') : m.content;
    replyingTo = { seq: m.seq, nickname: m.nickname };
    replace(replyBar,
      h('span', { class: 'reply-bar-text' }, 'Replying to ', h('strong', null, m.nickname), ': ', preview.length > 100 ? `${preview.slice(0, 100)}…` : preview),
      h('button', { class: 'icon-button', type: 'button', 'aria-label': 'Cancel the reply', title: 'Cancel the reply', onclick: () => endReply() }, icon('close')));
    replyBar.hidden = false;
    text.focus();
  }
  function endReply() {
    replyingTo = null;
    replyBar.hidden = true;
    replyBar.replaceChildren();
  }

  function sendText() {
    const value = text.value.trim();
    if (!value) return;
    if (!socket.sendText(value, replyingTo?.seq ?? null)) {
      app.error('Not connected yet: your message is kept, send it again in a moment.');
      return;
    }
    text.value = '';
    endReply();
    typingSent = 0; // the next message's typing shows at once (the server may still hold it)
    grow();
  }

  function grow() {
    text.style.height = 'auto';
    text.style.height = `${Math.min(text.scrollHeight, 160)}px`;
  }

  composer.addEventListener('submit', (e) => {
    e.preventDefault();
    sendText();
    text.focus();
  });
  text.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      sendText();
    } else if (e.key === 'Escape' && replyingTo) {
      endReply();
    }
  });
  text.addEventListener('input', grow);
  text.addEventListener('input', noteComposing);
  text.addEventListener('paste', (e) => {
    const files = [...(e.clipboardData?.files ?? [])];
    if (files.length) {
      e.preventDefault();
      files.forEach((f) => sendFile(f));
    }
  });
  for (const input of [fileInput, imageInput]) {
    input.addEventListener('change', () => {
      [...input.files].forEach((f) => sendFile(f));
      input.value = '';
    });
  }
  let dragDepth = 0;
  section.addEventListener('dragenter', (e) => {
    if (![...e.dataTransfer.types].includes('Files')) return;
    e.preventDefault();
    dragDepth += 1;
    section.classList.add('dragging');
  });
  section.addEventListener('dragover', (e) => {
    if ([...e.dataTransfer.types].includes('Files')) e.preventDefault();
  });
  section.addEventListener('dragleave', () => {
    dragDepth = Math.max(0, dragDepth - 1);
    if (dragDepth === 0) section.classList.remove('dragging');
  });
  section.addEventListener('drop', (e) => {
    e.preventDefault();
    dragDepth = 0;
    section.classList.remove('dragging');
    [...(e.dataTransfer?.files ?? [])].forEach((f) => sendFile(f));
  });

  function sendFile(file, { voice = false } = {}) {
    const type = file.type || '';
    const name = voice ? undefined : file.name || (type.startsWith('image/') ? `pasted-image.${type.slice(6) || 'png'}` : 'file');
    const label = voice ? 'Voice message' : name;
    if (file.size === 0) return app.error(`${label} is empty.`);
    if (file.size > MAX_FILE) return app.error(`${label} is too large (${formatSize(file.size)}); the limit is ${formatSize(MAX_FILE)}.`);
    const upload = socket.upload(file, { fileName: name, fileType: voice ? 'audio/wav' : type, replyTo: replyingTo?.seq ?? null });
    endReply();
    const bar = h('div', { class: 'progress-fill' });
    const progress = h('div', { class: 'progress', role: 'progressbar', 'aria-label': `Uploading ${label}`, 'aria-valuemin': '0', 'aria-valuemax': '100', 'aria-valuenow': '0' }, bar);
    const state = h('span', { class: 'upload-state muted small' }, 'Waiting for the connection…');
    const cancel = h('button', { class: 'icon-button', type: 'button', 'aria-label': `Cancel upload of ${label}`, title: 'Cancel', onclick: () => upload.cancel() }, icon('close'));
    const card = h('li', { class: 'upload' }, h('span', { class: 'file-icon' }, icon(voice ? 'mic' : type.startsWith('image/') ? 'image' : 'file')),
      h('div', { class: 'upload-text' }, h('span', { class: 'file-name' }, label, ' ', h('span', { class: 'muted small' }, formatSize(file.size))), progress, state), cancel);
    uploads.append(card);
    if (pinned) toBottom();
    upload.addEventListener('progress', () => {
      const pct = upload.size ? Math.round((upload.sent / upload.size) * 100) : 0;
      progress.setAttribute('aria-valuenow', String(pct));
      bar.style.width = `${pct}%`;
      if (upload.state === 'sending') state.textContent = `Sending… ${pct}% (${formatSize(upload.sent)} of ${formatSize(upload.size)})`;
      if (upload.state === 'processing') {
        state.textContent = 'Sent; the server is storing it…';
        cancel.disabled = true;
        cancel.setAttribute('aria-label', `Upload of ${label} can no longer be cancelled`);
      }
    });
    upload.addEventListener('done', () => card.remove());
    upload.addEventListener('failed', () => {
      card.classList.add('failed');
      progress.remove();
      state.textContent = upload.error;
      state.classList.add('error-text');
      cancel.disabled = false;
      cancel.setAttribute('aria-label', `Dismiss ${label}`);
      cancel.onclick = () => card.remove();
      if (upload.state !== 'cancelled') app.error(`${label}: ${upload.error}`);
      else setTimeout(() => card.remove(), 4000);
    });
  }

  // ---- voice ----
  let recorder = null;
  let recordTimer = 0;
  async function toggleRecording() {
    if (recorder) return finishRecording(true);
    try {
      recorder = await startRecording();
    } catch (e) {
      app.error(e);
      return;
    }
    micButton.classList.add('recording-on');
    micButton.setAttribute('aria-label', 'Stop and send voice message');
    micButton.replaceChildren(icon('stop'));
    const clock = h('span', { class: 'recording-clock' }, '0:00');
    replace(recordingBar, h('span', { class: 'recording-dot', 'aria-hidden': 'true' }), 'Recording ', clock,
      h('button', { class: 'button small', type: 'button', onclick: () => finishRecording(false) }, 'Discard recording'),
      h('button', { class: 'button small primary', type: 'button', onclick: () => finishRecording(true) }, 'Send recording'));
    recordingBar.hidden = false;
    recordTimer = setInterval(() => {
      const s = Math.floor(recorder?.elapsed() ?? 0);
      clock.textContent = `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
      if (s >= MAX_SECONDS) finishRecording(true);
    }, 250);
  }

  async function finishRecording(send) {
    const rec = recorder;
    recorder = null;
    clearInterval(recordTimer);
    recordingBar.hidden = true;
    micButton.classList.remove('recording-on');
    micButton.setAttribute('aria-label', 'Record a voice message');
    micButton.replaceChildren(icon('mic'));
    if (!rec) return;
    if (!send) {
      rec.cancel();
      return;
    }
    try {
      const wav = await rec.stop();
      if (alive) sendFile(wav, { voice: true });
    } catch (e) {
      app.error(e);
    }
  }

  text.focus();
  return () => {
    alive = false;
    clearTimeout(presenceTimer);
    clearTimeout(readTimer);
    clearTimeout(typingTimer);
    document.removeEventListener('visibilitychange', onVisible);
    if (recorder) finishRecording(false);
    socket.stop();
    document.title = 'cookim';
  };
}
