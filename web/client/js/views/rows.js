// Rows of chat lists, shared by the sidebar (the shell) and the joined-chats page.

import { app } from '../state.js';
import { avatar, h, icon } from '../dom.js';
import { parseTimestr, timeElement } from '../time.js';

/** One row of a chat list (sidebar or the joined-chats page). */
export function chatRow(s, { onMenu } = {}) {
  const group = s.sessionType === 1;
  const count = s.newCount ?? 0;
  const label = `${s.sessionName}, ${group ? 'group' : 'private chat'}${count ? `, ${count} unread` : ''}`;
  const when = parseTimestr(s.lastUpdate);
  const link = h('a', { class: 'chat-row-link', href: `#/chat/${encodeURIComponent(s.sessionid)}`, 'aria-label': label },
    avatar(s.sessionIcon, s.sessionName),
    h('span', { class: 'chat-row-text' },
      h('span', { class: 'chat-row-top' },
        h('span', { class: 'chat-row-name' }, s.sessionName),
        h('span', { class: `tag ${group ? 'tag-group' : 'tag-private'}` }, group ? 'Group' : 'Private'),
        timeElement(when, 'chat-row-time')),
      h('span', { class: 'chat-row-bottom' },
        h('span', { class: 'chat-row-preview' }, previewOf(s.message) || 'No messages yet'),
        count ? h('span', { class: 'badge', 'aria-hidden': 'true' }, count > 99 ? '99+' : String(count)) : null)));
  const row = h('li', { class: `chat-row${s.sessionid === app.currentSid ? ' active' : ''}`, dataset: { sid: s.sessionid } }, link);
  if (s.sessionid === app.currentSid) link.setAttribute('aria-current', 'page');
  if (onMenu) row.append(h('button', { class: 'icon-button row-menu', type: 'button', 'aria-label': `Options for ${s.sessionName}`, onclick: onMenu }, icon('more')));
  return row;
}

/** A preview line for a push or a listed last message. */
export function previewOf(m) {
  if (!m) return '';
  let text = m.content;
  if (m.msgType === 'file') {
    if (m.thumbid) text = 'Photo';
    else if (m.fileType === 'audio/wav') text = 'Voice message';
    else text = m.fileName ? `File: ${m.fileName}` : 'File';
  } else if (text === 'send a [PHOTO]') text = 'Photo';
  else if (text === 'send a [FILE]') text = 'File';
  if (m.msgType === 'join' || m.msgType === 'leave') return text;
  const who = m.uid === app.me.uid ? 'You' : m.nickname;
  return who ? `${who}: ${text}` : text;
}

