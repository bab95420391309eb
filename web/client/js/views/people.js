// Friends (search by nickname, add, remove, message) and notifications.

import { authed } from '../api.js';
import { app } from '../state.js';
import { avatar, h, icon, replace } from '../dom.js';
import { parseTimestr, timeElement } from '../time.js';
import { field } from './auth.js';
import { confirmDialog, userMenu } from './dialogs.js';
import { pageHeader } from './lists.js';

async function message(uid) {
  try {
    const { sessionid } = await authed('getPrivateSession', { ouid: uid });
    await app.refreshSessions();
    app.openChat(sessionid);
  } catch (e) {
    app.error(e);
  }
}

export function friends(main) {
  const query = h('input', { type: 'search', name: 'nickname', required: true, autocomplete: 'off', placeholder: 'Exact nickname' });
  const results = h('ul', { class: 'people big', 'aria-label': 'Search results' });
  const list = h('ul', { class: 'people big', 'aria-label': 'Your friends' });
  const search = h('form', { class: 'search-form', role: 'search' },
    field('Find people by nickname', query),
    h('button', { class: 'button primary', type: 'submit' }, icon('search'), 'Search'));
  let friendIds = new Set();

  const loadFriends = async () => {
    try {
      const { friends } = await authed('getFriends');
      friendIds = new Set(friends.map((f) => f.uid));
      if (friends.length === 0) {
        replace(list, h('li', { class: 'empty-hint' }, 'No friends yet: search for someone by nickname.'));
        return;
      }
      replace(list, friends.map((f) => h('li', { class: 'person card' },
        h('button', { class: 'person-button', type: 'button', 'aria-label': `${f.nickname}: options`, onclick: () => userMenu(f.uid) },
          avatar(f.avatar, f.nickname),
          h('span', { class: 'person-name' }, f.nickname),
          h('span', { class: 'muted small' }, 'Joined ', timeElement(parseTimestr(f.dateline)))),
        h('div', { class: 'person-actions' },
          h('button', { class: 'button', type: 'button', 'aria-label': `Message ${f.nickname}`, onclick: () => message(f.uid) }, icon('chats'), h('span', { class: 'hide-narrow' }, 'Message')),
          h('button', { class: 'icon-button', type: 'button', 'aria-label': `Remove ${f.nickname} from friends`, onclick: () => remove(f) }, icon('close'))))));
    } catch (e) {
      app.error(e);
    }
  };

  const remove = async (f) => {
    if (!(await confirmDialog('Remove friend?', `${f.nickname} will be told.`, 'Remove'))) return;
    try {
      await authed('removeFriend', { fuid: f.uid });
      app.toast(`${f.nickname} is no longer your friend.`);
      loadFriends();
    } catch (e) {
      app.error(e);
    }
  };

  const add = async (u) => {
    try {
      await authed('joinFriend', { fuid: u.uid });
      app.toast(`${u.nickname} is now your friend.`);
      await loadFriends();
      runSearch();
    } catch (e) {
      app.error(e);
    }
  };

  const runSearch = async () => {
    const name = query.value.trim();
    if (!name) return;
    try {
      const { userInfo } = await authed('getUserInfoByName', { nickName: name });
      if (userInfo.length === 0) {
        replace(results, h('li', { class: 'empty-hint' }, `Nobody is called “${name}”.`));
        return;
      }
      replace(results, userInfo.map((u) => h('li', { class: 'person card' },
        avatar(u.avatar, u.nickname),
        h('span', { class: 'person-name' }, u.nickname, u.uid === app.me.uid ? ' (you)' : ''),
        h('div', { class: 'person-actions' },
          u.uid === app.me.uid ? null
            : friendIds.has(u.uid)
              ? h('span', { class: 'tag' }, 'Friend')
              : h('button', { class: 'button primary', type: 'button', 'aria-label': `Add ${u.nickname} as a friend`, onclick: () => add(u) }, icon('plus'), 'Add friend')))));
    } catch (e) {
      app.error(e);
    }
  };
  search.addEventListener('submit', (e) => {
    e.preventDefault();
    runSearch();
  });

  main.append(pageHeader('Friends'), h('section', { class: 'page-body' },
    search, results,
    h('h2', { class: 'section-title' }, 'Your friends'), list));
  loadFriends();
  const onChange = () => loadFriends();
  app.events.addEventListener('friends', onChange);
  return () => app.events.removeEventListener('friends', onChange);
}

export function notifications(main) {
  const list = h('ul', { class: 'notices', 'aria-label': 'Notifications', 'aria-busy': 'true' });
  main.append(pageHeader('Notifications'), h('section', { class: 'page-body' }, list));
  (async () => {
    try {
      // Reading them marks them read (spec §6.5); the answer still flags the new ones.
      const { notifications: items } = await authed('getNotifications', { page: 1, count: 50 });
      list.removeAttribute('aria-busy');
      app.setNotificationCount(0);
      if (items.length === 0) {
        replace(list, h('li', { class: 'empty-hint' }, 'Nothing new. Friend requests and invitations show up here.'));
        return;
      }
      replace(list, items.map((n) => h('li', { class: `notice card${n.isRead ? '' : ' unread'}` },
        avatar(n.avatar, n.nickname),
        h('div', { class: 'notice-text' },
          n.sessionid ? h('a', { href: `#/chat/${encodeURIComponent(n.sessionid)}` }, n.content) : h('span', null, n.content),
          h('span', { class: 'muted small' }, timeElement(parseTimestr(n.dateline)))),
        n.isRead ? null : h('span', { class: 'tag tag-new' }, 'New'))));
    } catch (e) {
      list.removeAttribute('aria-busy');
      app.error(e);
    }
  })();
}
