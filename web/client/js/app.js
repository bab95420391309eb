// cookim's web client: the shell (sidebar, routing, live badges, toasts) and the shared state
// every view reads. Plain ES modules, no build step; served by the cookim binary.

import { ApiError, auth, authed, call } from './api.js';
import { SIGNED_OUT, app, provide } from './state.js';
import { avatar, h, icon, replace } from './dom.js';
import { PushSocket } from './push.js';
import { parseTimestr, refreshTimes } from './time.js';
import * as authViews from './views/auth.js';
import * as lists from './views/lists.js';
import * as chat from './views/chat.js';
import * as people from './views/people.js';
import * as account from './views/account.js';
import * as search from './views/search.js';
import { chatRow } from './views/rows.js';

const TOKEN_REFRESH_MS = 4 * 60 * 1000;
const NOTIFICATION_POLL_MS = 15 * 1000;
// The shell's actions, for the views (see state.js).
provide({
  go(hash) {
    if (location.hash === hash) route();
    else location.hash = hash;
  },

  toast(message) {
    showToast(message, false);
  },

  /**
   * Shows a failure: the server's errmsg as is, or what went wrong. A refusal ("no
   * privilege…") is first checked: if our sign-in itself is gone, the page signs out with one
   * clear message instead.
   */
  error(e) {
    const message = e instanceof Error ? e.message : String(e);
    if (e instanceof ApiError && e.denied) {
      checkSignedIn().then((ok) => ok && showToast(message, true));
      return;
    }
    showToast(message, true);
  },

  /** A `reject` from a socket: shown like an errmsg (a refusal is checked first). */
  refused(reason) {
    app.error(new ApiError(`The server refused: ${reason}`, { denied: /^no privilege/i.test(reason) }));
  },

  /** The server ended this device's login (a socket closed with "session ended"). */
  signedOutHere() {
    if (auth.token) app.signOut(SIGNED_OUT);
  },

  checkSignedIn: () => checkSignedIn(),

  async refreshSessions() {
    try {
      const { sessions } = await authed('listSessions', { isPublic: 0 });
      app.sessions = sessions;
      sortSessions();
      if (app.currentSid) clearUnread(app.currentSid);
      renderChatList();
      app.events.dispatchEvent(new Event('sessions'));
    } catch (e) {
      app.error(e);
    }
  },

  async refreshNotificationCount() {
    if (!auth.token) return;
    try {
      const { rsCount } = await authed('getNewNotificationCount');
      setNotificationCount(rsCount);
    } catch (e) {
      if (e instanceof ApiError && e.denied) checkSignedIn();
    }
  },

  setNotificationCount(n) {
    setNotificationCount(n);
  },

  /** Refreshes our token and identity (after a profile change too). */
  async refreshToken() {
    const { uid, userToken } = await authed('userToken');
    auth.save(uid, userToken);
    const me = await call('verifyUserToken', { userToken });
    app.me = { uid: me.uid, nickname: me.nickname, avatar: me.avatar };
    renderMe();
  },

  async signedIn(uid, token, remember) {
    auth.save(uid, token, remember);
    await startSession();
    app.go('#/chats');
  },

  async signOut(message) {
    const token = auth.token;
    stopSession();
    auth.clear();
    if (token && !message) {
      try {
        await call('logoutUser', { userToken: token });
      } catch (e) {
        showToast(e.message, true);
      }
    }
    if (message) showToast(message, true);
    app.go('#/login');
  },

  openChat(sid) {
    app.go(`#/chat/${encodeURIComponent(sid)}`);
  },

  clearUnread: (sid) => clearUnread(sid),
});

// ---- toasts ---------------------------------------------------------------------------

function showToast(message, isError) {
  const box = document.getElementById(isError ? 'alerts' : 'toasts');
  const close = h('button', { class: 'toast-close', type: 'button', 'aria-label': 'Dismiss' }, icon('close'));
  const toast = h('div', { class: `toast${isError ? ' toast-error' : ''}` }, h('span', { class: 'toast-text' }, message), close);
  const remove = () => toast.remove();
  close.addEventListener('click', remove);
  box.append(toast);
  setTimeout(remove, isError ? 8000 : 4000);
}

// ---- signed-in session: token refresh, push socket, badges ---------------------------

let timers = [];

async function startSession() {
  stopSession();
  const me = await call('verifyUserToken', { userToken: auth.token });
  if (!me.uid) throw new ApiError(SIGNED_OUT, { denied: true });
  app.me = { uid: me.uid, nickname: me.nickname, avatar: me.avatar };
  timers.push(setInterval(() => app.refreshToken().catch((e) => {
    if (e instanceof ApiError && e.denied) checkSignedIn();
  }), TOKEN_REFRESH_MS));
  timers.push(setInterval(() => app.refreshNotificationCount(), NOTIFICATION_POLL_MS));
  const push = new PushSocket({ userToken: () => auth.token });
  push.addEventListener('ready', () => {
    app.refreshSessions();
    app.refreshNotificationCount();
  });
  push.addEventListener('push', (e) => onPush(e.detail));
  push.addEventListener('denied', () => checkSignedIn());
  push.addEventListener('ended', () => app.signedOutHere());
  app.push = push;
  push.start();
  buildShell();
}

function stopSession() {
  timers.forEach(clearInterval);
  timers = [];
  app.push?.stop();
  app.push = null;
  app.sessions = [];
  app.notificationCount = 0;
  shell = null;
}

/**
 * Asks the server whether our token still holds; signs out (with one clear message) when it
 * does not. True while signed in (or when the server cannot be asked), false once signed out.
 */
let checking = null;
function checkSignedIn() {
  if (!auth.token) return Promise.resolve(false);
  const token = auth.token;
  // Several refusals at once (every open request of an ended login) make one check.
  checking ??= (async () => {
    try {
      const me = await call('verifyUserToken', { userToken: token });
      if (me.uid) return true;
      if (auth.token === token) app.signOut(SIGNED_OUT);
      return false;
    } catch {
      return true; // offline: the sockets reconnect by themselves
    } finally {
      checking = null;
    }
  })();
  return checking;
}

function onPush(m) {
  const s = app.sessions.find((x) => x.sessionid === m.sessionid);
  if (!s) {
    app.refreshSessions();
    if (m.msgType === 'join' && m.uid === app.me.uid) app.refreshNotificationCount();
    return;
  }
  s.lastUpdate = m.dateline;
  s.message = { uid: m.uid, nickname: m.nickname, avatar: m.avatar, msgType: m.msgType, content: m.content, fileType: m.fileType, fileName: m.fileName, thumbid: m.thumbid };
  if (m.msgType === 'leave' && m.uid === app.me.uid) {
    app.refreshSessions();
    return;
  }
  if (m.sessionid !== app.currentSid && m.uid !== app.me.uid) s.newCount = (s.newCount ?? 0) + 1;
  sortSessions();
  renderChatList();
  app.events.dispatchEvent(new Event('sessions'));
}

function clearUnread(sid) {
  const s = app.sessions.find((x) => x.sessionid === sid);
  if (s && s.newCount) {
    s.newCount = 0;
    renderChatList();
  }
}

function sortSessions() {
  const now = new Date();
  const time = (s) => parseTimestr(s.lastUpdate, now)?.getTime() ?? 0;
  app.sessions.sort((a, b) => time(b) - time(a));
}

function setNotificationCount(n) {
  app.notificationCount = n;
  const badge = shell?.notificationBadge;
  if (!badge) return;
  badge.textContent = n > 99 ? '99+' : String(n);
  badge.hidden = n === 0;
  shell.notificationLink.setAttribute('aria-label', n ? `Notifications, ${n} unread` : 'Notifications');
}

// ---- the shell ----------------------------------------------------------------------

let shell = null;

function navLink(hash, label, iconName, extra) {
  return h('a', { class: 'nav-link', href: hash, dataset: { route: hash } }, icon(iconName), h('span', { class: 'nav-label' }, label), extra);
}

function buildShell() {
  const notificationBadge = h('span', { class: 'badge', hidden: true });
  const notificationLink = navLink('#/notifications', 'Alerts', 'bell', notificationBadge);
  notificationLink.setAttribute('aria-label', 'Notifications');
  const me = h('div', { class: 'me' });
  const chatList = h('ul', { class: 'chat-list', 'aria-label': 'Your chats' });
  const main = h('main', { class: 'main', id: 'main', tabindex: '-1' });
  const sidebar = h('aside', { class: 'sidebar', 'aria-label': 'Chats and navigation' },
    h('div', { class: 'brand-row' },
      h('a', { class: 'brand', href: '#/chats' }, h('img', { src: 'icon.svg', alt: '', class: 'brand-logo' }), 'cookim'),
      h('a', { class: 'icon-button', href: '#/new-group', 'aria-label': 'New group', title: 'New group' }, icon('plus'))),
    h('nav', { class: 'nav', 'aria-label': 'Main' },
      navLink('#/chats', 'Chats', 'chats'),
      navLink('#/discover', 'Discover', 'compass'),
      navLink('#/friends', 'Friends', 'users'),
      navLink('#/search', 'Search', 'search'),
      notificationLink),
    h('h2', { class: 'list-title' }, 'Joined chats'),
    h('div', { class: 'chat-list-scroll' }, chatList),
    me);
  const root = document.getElementById('app');
  replace(root, h('div', { class: 'shell' }, sidebar, main));
  shell = { root, sidebar, main, chatList, me, notificationBadge, notificationLink };
  renderMe();
  renderChatList();
  setNotificationCount(app.notificationCount);
}

function renderMe() {
  if (!shell) return;
  replace(shell.me,
    h('a', { class: 'me-link', href: '#/profile', 'aria-label': `Your profile (${app.me.nickname})` },
      avatar(app.me.avatar, app.me.nickname, 'sm'), h('span', { class: 'me-name' }, app.me.nickname)),
    h('a', { class: 'icon-button', href: '#/sessions', dataset: { route: '#/sessions' }, 'aria-label': 'Sessions', title: 'Sessions: your signed-in devices' }, icon('devices')),
    h('a', { class: 'icon-button', href: '#/password', dataset: { route: '#/password' }, 'aria-label': 'Change password', title: 'Change password' }, icon('key')),
    h('button', { class: 'icon-button', type: 'button', 'aria-label': 'Log out', title: 'Log out', onclick: () => app.signOut() }, icon('logout')));
  markCurrent();
}

/** Marks the sidebar link of the page on screen. */
function markCurrent() {
  const hash = location.hash || '#/chats';
  for (const link of shell?.sidebar.querySelectorAll('[data-route]') ?? []) {
    if (link.dataset.route === hash) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
}

function renderChatList() {
  if (!shell) return;
  if (app.sessions.length === 0) {
    replace(shell.chatList, h('li', { class: 'empty-hint' }, 'No chats yet. Discover public groups or start one.'));
    return;
  }
  replace(shell.chatList, app.sessions.map((s) => chatRow(s)));
}

// ---- routing --------------------------------------------------------------------------

const ROUTES = [
  [/^#\/chats$/, lists.joined],
  [/^#\/discover$/, lists.discover],
  [/^#\/chat\/([^/]+)$/, chat.view],
  [/^#\/chat\/([^/]+)\/(\d+)$/, chat.view],
  [/^#\/search$/, search.view],
  [/^#\/friends$/, people.friends],
  [/^#\/notifications$/, people.notifications],
  [/^#\/profile$/, account.profile],
  [/^#\/password$/, account.password],
  [/^#\/sessions$/, account.sessions],
  [/^#\/new-group$/, account.newGroup],
  [/^#\/settings\/([^/]+)$/, account.groupSettings],
];

let cleanup = null;

async function route() {
  cleanup?.();
  cleanup = null;
  const hash = location.hash || '#/chats';
  const root = document.getElementById('app');
  root.removeAttribute('aria-busy');
  if (hash === '#/login' || hash === '#/register') {
    if (auth.token && shell) return app.go('#/chats');
    shell = null;
    document.body.className = 'route-auth';
    cleanup = (hash === '#/login' ? authViews.login : authViews.register)(root) ?? null;
    return;
  }
  if (!auth.token) return app.go('#/login');
  if (!shell) {
    try {
      await startSession();
    } catch (e) {
      auth.clear();
      showToast(e instanceof ApiError && e.denied ? SIGNED_OUT : e.message, true);
      return app.go('#/login');
    }
  }
  app.currentSid = '';
  const [pattern, view] = ROUTES.find(([re]) => re.test(hash)) ?? [/^/, lists.joined];
  const params = (pattern.exec(hash) ?? []).slice(1).map(decodeURIComponent);
  document.body.className = hash === '#/chats' || !ROUTES.some(([re]) => re.test(hash)) ? 'route-list' : 'route-main';
  markCurrent();
  const main = shell.main;
  main.replaceChildren();
  cleanup = view(main, ...params) ?? null;
  renderChatList();
  app.refreshNotificationCount();
}

window.addEventListener('hashchange', route);
setInterval(() => refreshTimes(), 30 * 1000);
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible' && shell) app.refreshNotificationCount();
});

auth.load();
route();
