// Modal dialogs (native <dialog>: focus trapping, Escape, accessible names): the chat menu,
// the user menu, joined users, inviting friends, confirmations and the image viewer.

import { authed } from '../api.js';
import { app } from '../state.js';
import { avatar, fileUrl, h, icon } from '../dom.js';

let counter = 0;

/** Opens a dialog; returns {dialog, body, close}. */
export function openDialog(title, { wide = false, className = '' } = {}) {
  counter += 1;
  const titleId = `dialog-title-${counter}`;
  const body = h('div', { class: 'dialog-body' });
  const dialog = h('dialog', { class: `dialog${wide ? ' wide' : ''} ${className}`, 'aria-labelledby': titleId },
    h('header', { class: 'dialog-header' },
      h('h2', { id: titleId }, title),
      h('button', { class: 'icon-button', type: 'button', 'aria-label': 'Close', onclick: () => close() }, icon('close'))),
    body);
  const close = () => {
    if (dialog.open) dialog.close();
  };
  dialog.addEventListener('close', () => dialog.remove());
  dialog.addEventListener('click', (e) => {
    if (e.target === dialog) close();
  });
  document.body.append(dialog);
  dialog.showModal();
  return { dialog, body, close };
}

/** Asks to confirm; resolves true or false. */
export function confirmDialog(title, text, action) {
  return new Promise((resolve) => {
    const { dialog, body, close } = openDialog(title);
    let answer = false;
    dialog.addEventListener('close', () => resolve(answer));
    body.append(h('p', null, text), h('div', { class: 'button-row end' },
      h('button', { class: 'button', type: 'button', onclick: close }, 'Cancel'),
      h('button', { class: 'button primary', type: 'button', onclick: () => { answer = true; close(); } }, action)));
  });
}

function loading(body) {
  body.append(h('p', { class: 'muted', role: 'status' }, 'Loading…'));
}

function menuButton(label, iconName, onclick, danger = false) {
  return h('button', { class: `menu-item${danger ? ' danger' : ''}`, type: 'button', onclick }, icon(iconName), h('span', null, label));
}

/** The chat menu (spec §12): join, invite, joined users, settings, leave. */
export async function sessionMenu(sid) {
  const { body, close } = openDialog('Chat options');
  loading(body);
  let s;
  try {
    ({ session: s } = await authed('getSessionMenu', { sessionid: sid }));
  } catch (e) {
    close();
    app.error(e);
    return;
  }
  const name = s.sessionName || 'Private chat';
  const items = [];
  if (!s.joined) {
    items.push(menuButton('Join this group', 'plus', async () => {
      close();
      try {
        await authed('joinGroupSession', { sessionid: sid });
        app.toast(`You joined ${name}.`);
        await app.refreshSessions();
        app.openChat(sid);
      } catch (e) {
        app.error(e);
      }
    }));
  } else {
    items.push(menuButton('Open chat', 'chats', () => { close(); app.openChat(sid); }));
    items.push(menuButton('Invite friends', 'users', () => { close(); inviteFriends(sid, s.ouid); }));
  }
  items.push(menuButton('Members', 'user', () => { close(); joinedUsers(sid); }));
  if (s.editable && s.sessionName) items.push(menuButton('Group settings', 'settings', () => { close(); app.go(`#/settings/${encodeURIComponent(sid)}`); }));
  if (s.joined && !s.editable && s.sessionName) {
    items.push(menuButton('Leave group', 'logout', async () => {
      close();
      if (!(await confirmDialog('Leave group?', `You will stop receiving messages from ${name}.`, 'Leave'))) return;
      try {
        await authed('leaveGroupSession', { sessionid: sid });
        app.toast(`You left ${name}.`);
        await app.refreshSessions();
        app.go('#/chats');
      } catch (e) {
        app.error(e);
      }
    }, true));
  }
  body.replaceChildren(
    h('div', { class: 'dialog-hero' }, s.sessionIcon ? avatar(s.sessionIcon, name, 'lg') : null, h('strong', null, name)),
    h('div', { class: 'menu' }, items));
}

/** Who is in a chat, online first. */
export async function joinedUsers(sid) {
  const { body, close } = openDialog('Members');
  loading(body);
  try {
    const { onlineUsers, offlineUsers } = await authed('getJoinedUsers', { sessionid: sid });
    const person = (u, online) => h('li', { class: `person${online ? '' : ' offline'}` },
      h('button', { class: 'person-button', type: 'button', 'aria-label': `${u.nickname}, ${online ? 'in the chat now' : 'not in the chat'}`, onclick: () => { if (u.uid !== app.me.uid) { close(); userMenu(u.uid); } } },
        h('span', { class: 'avatar-wrap' }, avatar(u.avatar, u.nickname), h('span', { class: `presence ${online ? 'on' : 'off'}`, 'aria-hidden': 'true' })),
        h('span', { class: 'person-name' }, u.nickname, u.uid === app.me.uid ? ' (you)' : ''),
        h('span', { class: 'muted small' }, online ? 'Online' : 'Offline')));
    body.replaceChildren(
      h('h3', { class: 'section-title' }, `In the chat now (${onlineUsers.length})`),
      h('ul', { class: 'people', 'aria-label': 'Online members' }, onlineUsers.map((u) => person(u, true))),
      h('h3', { class: 'section-title' }, `Others (${offlineUsers.length})`),
      h('ul', { class: 'people', 'aria-label': 'Offline members' }, offlineUsers.map((u) => person(u, false))));
  } catch (e) {
    close();
    app.error(e);
  }
}

/** A user's menu: message, friend or unfriend, invite into a new group (from a private chat). */
export async function userMenu(uid, { privateSid = '' } = {}) {
  if (uid === app.me.uid) {
    app.toast('That is you.');
    return;
  }
  const { body, close } = openDialog('Person');
  loading(body);
  let user;
  try {
    ({ user } = await authed('getUserMenu', { ouid: uid }));
  } catch (e) {
    close();
    app.error(e);
    return;
  }
  const items = [
    menuButton(`Message ${user.nickname}`, 'chats', async () => {
      close();
      try {
        const { sessionid } = await authed('getPrivateSession', { ouid: uid });
        await app.refreshSessions();
        app.openChat(sessionid);
      } catch (e) {
        app.error(e);
      }
    }),
    user.isFriend
      ? menuButton('Remove friend', 'close', async () => {
        close();
        if (!(await confirmDialog('Remove friend?', `${user.nickname} will be told.`, 'Remove'))) return;
        try {
          await authed('removeFriend', { fuid: uid });
          app.toast(`${user.nickname} is no longer your friend.`);
          app.events.dispatchEvent(new Event('friends'));
        } catch (e) {
          app.error(e);
        }
      }, true)
      : menuButton('Add friend', 'plus', async () => {
        close();
        try {
          await authed('joinFriend', { fuid: uid });
          app.toast(`${user.nickname} is now your friend.`);
          app.events.dispatchEvent(new Event('friends'));
        } catch (e) {
          app.error(e);
        }
      }),
  ];
  if (privateSid) items.push(menuButton('Start a group with friends', 'users', () => { close(); inviteFriends(privateSid, uid); }));
  body.replaceChildren(
    h('div', { class: 'dialog-hero' }, avatar(user.avatar, user.nickname, 'lg'), h('strong', null, user.nickname),
      h('span', { class: 'muted small' }, user.gender === 2 ? 'Girl' : user.gender === 1 ? 'Boy' : '', user.isFriend ? ' · Friend' : '')),
    h('div', { class: 'menu' }, items));
}

/** Invites friends into a group, or (from a private chat) into a new group with both of you. */
export async function inviteFriends(sid, ouid) {
  const { body, close } = openDialog('Invite friends');
  loading(body);
  let friends;
  try {
    ({ friends } = await authed('getFriends'));
  } catch (e) {
    close();
    app.error(e);
    return;
  }
  if (friends.length === 0) {
    body.replaceChildren(h('p', null, 'Add friends first, then invite them.'), h('a', { class: 'button primary', href: '#/friends', onclick: close }, 'Find friends'));
    return;
  }
  const boxes = friends.map((f) => h('input', { type: 'checkbox', value: f.uid, id: `invite-${f.uid}` }));
  const form = h('form', { class: 'form' },
    h('fieldset', { class: 'pick-list' }, h('legend', null, 'Choose friends'),
      friends.map((f, i) => h('div', { class: 'pick' }, boxes[i], h('label', { for: boxes[i].id }, avatar(f.avatar, f.nickname, 'sm'), f.nickname)))),
    h('p', { class: 'form-error', role: 'alert' }),
    h('div', { class: 'button-row end' },
      h('button', { class: 'button', type: 'button', onclick: close }, 'Cancel'),
      h('button', { class: 'button primary', type: 'submit' }, 'Invite')));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const chosen = boxes.filter((b) => b.checked).map((b) => b.value);
    const error = form.querySelector('.form-error');
    try {
      const answer = await authed('inviteFriends', { sessionid: sid, ouid: ouid ?? '', friends: JSON.stringify(chosen) });
      close();
      app.toast(answer.successmsg || 'Invited.');
      await app.refreshSessions();
      if (answer.sessionid) app.openChat(answer.sessionid);
    } catch (err) {
      error.textContent = err.message;
      app.error(err);
    }
  });
  body.replaceChildren(form);
}

/** The full image, over the page. */
export function viewImage(fileid, name) {
  const { body } = openDialog(name || 'Image', { wide: true, className: 'lightbox' });
  body.append(
    h('img', { class: 'lightbox-image', src: fileUrl(fileid), alt: name || 'Image' }),
    h('div', { class: 'button-row end' }, h('a', { class: 'button', href: fileUrl(fileid), download: name || 'image' }, icon('download'), 'Download')));
}
