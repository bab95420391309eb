// Chat lists: the joined chats (the sidebar, and this page on a phone) and public groups to
// discover and join.

import { authed } from '../api.js';
import { app } from '../state.js';
import { chatRow, previewOf } from './rows.js';
import { avatar, h, icon, replace } from '../dom.js';
import { parseTimestr, timeElement } from '../time.js';
import { sessionMenu } from './dialogs.js';

export function pageHeader(title, ...actions) {
  return h('header', { class: 'page-header' },
    h('a', { class: 'icon-button back', href: '#/chats', 'aria-label': 'Back to chats' }, icon('back')),
    h('h1', { class: 'page-title' }, title),
    h('div', { class: 'page-actions' }, actions));
}

export function joined(main) {
  const list = h('ul', { class: 'chat-list big' });
  const render = () => {
    if (app.sessions.length === 0) {
      replace(list, h('li', { class: 'empty-state' },
        h('p', null, 'You have not joined any chat yet.'),
        h('a', { class: 'button primary', href: '#/discover' }, 'Discover public groups')));
      return;
    }
    replace(list, app.sessions.map((s) => chatRow(s, { onMenu: () => sessionMenu(s.sessionid) })));
  };
  render();
  main.append(
    pageHeader('Chats', h('a', { class: 'button', href: '#/new-group' }, icon('plus'), 'New group')),
    h('section', { class: 'page-body welcome' },
      h('div', { class: 'welcome-card' },
        h('img', { src: 'icon.svg', alt: '', class: 'welcome-logo' }),
        h('h2', null, `Hi ${app.me.nickname}!`),
        h('p', { class: 'muted' }, 'Pick a chat on the left, find a public group, or start your own.'),
        h('div', { class: 'button-row' },
          h('a', { class: 'button', href: '#/discover' }, icon('compass'), 'Discover groups'),
          h('a', { class: 'button', href: '#/friends' }, icon('users'), 'Find friends'))),
      h('h2', { class: 'section-title' }, 'Joined chats'),
      list));
  app.events.addEventListener('sessions', render);
  return () => app.events.removeEventListener('sessions', render);
}

export function discover(main) {
  const list = h('ul', { class: 'card-list', 'aria-label': 'Public groups', 'aria-busy': 'true' });
  main.append(
    pageHeader('Discover', h('a', { class: 'button', href: '#/new-group' }, icon('plus'), 'New group')),
    h('section', { class: 'page-body' },
      h('p', { class: 'muted' }, 'Public groups you have not joined yet, most active first.'),
      list));
  let alive = true;
  const load = async () => {
    try {
      const { sessions } = await authed('listSessions', { isPublic: 1 });
      if (!alive) return;
      list.removeAttribute('aria-busy');
      if (sessions.length === 0) {
        replace(list, h('li', { class: 'empty-state' }, h('p', null, 'No public groups to join right now.'), h('a', { class: 'button primary', href: '#/new-group' }, 'Start one')));
        return;
      }
      replace(list, sessions.map((s) => h('li', { class: 'card group-card' },
        avatar(s.sessionIcon, s.sessionName, 'lg'),
        h('div', { class: 'group-card-text' },
          h('h2', { class: 'group-card-name' }, s.sessionName),
          h('p', { class: 'muted small' }, previewOf(s.message) || 'No messages yet', ' · ', timeElement(parseTimestr(s.lastUpdate)))),
        h('div', { class: 'group-card-actions' },
          h('button', { class: 'button primary', type: 'button', 'aria-label': `Join ${s.sessionName}`, onclick: () => join(s) }, 'Join'),
          h('button', { class: 'icon-button', type: 'button', 'aria-label': `Options for ${s.sessionName}`, onclick: () => sessionMenu(s.sessionid) }, icon('more'))))));
    } catch (e) {
      list.removeAttribute('aria-busy');
      replace(list, h('li', { class: 'empty-state error-text' }, e.message));
      app.error(e);
    }
  };
  load();
  return () => {
    alive = false;
  };
}

export async function join(s) {
  try {
    await authed('joinGroupSession', { sessionid: s.sessionid });
    app.toast(`You joined ${s.sessionName}.`);
    await app.refreshSessions();
    app.openChat(s.sessionid);
  } catch (e) {
    app.error(e);
  }
}
