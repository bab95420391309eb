// Profile and avatar, password, and creating or editing a group.

import { authed } from '../api.js';
import { app } from '../app.js';
import { avatar, h, replace } from '../dom.js';
import { busy, field } from './auth.js';
import { pageHeader } from './lists.js';

/** A file input for an image, with a live preview (a blob: URL). */
function imagePicker(label, { required = false, current = '', name = '' } = {}) {
  const input = h('input', { type: 'file', accept: 'image/png,image/jpeg,image/gif,image/webp', required });
  const preview = h('span', { class: 'picker-preview' }, avatar(current, name, 'xl'));
  let url = '';
  input.addEventListener('change', () => {
    URL.revokeObjectURL(url);
    const file = input.files?.[0];
    if (!file) return;
    url = URL.createObjectURL(file);
    replace(preview, h('img', { class: 'avatar avatar-xl', src: url, alt: 'Preview of the chosen image' }));
  });
  return { input, el: h('div', { class: 'picker' }, preview, field(label, input, 'PNG, JPEG, GIF or WebP.')), file: () => input.files?.[0] ?? null };
}

export function profile(main) {
  const body = h('section', { class: 'page-body narrow' }, h('p', { class: 'muted', role: 'status' }, 'Loading…'));
  main.append(pageHeader('Your profile'), body);
  (async () => {
    let info;
    try {
      ({ userInfo: info } = await authed('getUserInfo', { uid: app.me.uid }));
    } catch (e) {
      app.error(e);
      return;
    }
    const nickname = h('input', { type: 'text', required: true, minlength: 4, maxlength: 40, value: info.nickname, autocomplete: 'nickname' });
    const boy = h('input', { type: 'radio', name: 'gender', id: 'p-boy', value: '1', checked: info.gender !== 2 });
    const girl = h('input', { type: 'radio', name: 'gender', id: 'p-girl', value: '2', checked: info.gender === 2 });
    const picker = imagePicker('Avatar', { current: info.avatar, name: info.nickname });
    const form = h('form', { class: 'form' },
      picker.el,
      field('Nickname', nickname),
      h('fieldset', { class: 'radios' }, h('legend', null, 'Gender'),
        h('span', { class: 'check' }, boy, h('label', { for: 'p-boy' }, 'Boy')),
        h('span', { class: 'check' }, girl, h('label', { for: 'p-girl' }, 'Girl'))),
      h('dl', { class: 'facts' },
        h('dt', null, 'Email'), h('dd', null, info.login),
        h('dt', null, 'Sign-ins'), h('dd', null, String(info.loginCount))),
      h('p', { class: 'form-error', role: 'alert' }),
      h('button', { class: 'button primary', type: 'submit' }, 'Save profile'));
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      busy(form, async () => {
        await authed('updateUser', { nickname: nickname.value.trim(), gender: girl.checked ? 2 : 1, avatar: picker.file() });
        await app.refreshToken();
        app.toast('Profile saved.');
      });
    });
    replace(body, form);
  })();
}

export function password(main) {
  const old = h('input', { type: 'password', required: true, autocomplete: 'current-password' });
  const next = h('input', { type: 'password', required: true, minlength: 6, autocomplete: 'new-password' });
  const repeat = h('input', { type: 'password', required: true, minlength: 6, autocomplete: 'new-password' });
  const form = h('form', { class: 'form' },
    field('Current password', old),
    field('New password', next, 'At least 6 characters.'),
    field('Repeat new password', repeat),
    h('p', { class: 'form-error', role: 'alert' }),
    h('button', { class: 'button primary', type: 'submit' }, 'Change password'));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    busy(form, async () => {
      await authed('changePwd', { oldPwd: old.value, newPwd: next.value, renewPwd: repeat.value });
      // The server ends every other login of ours and keeps this one: nothing to redo here.
      form.reset();
      app.toast('Password changed. Your other devices were signed out; this one stays signed in.');
    });
  });
  main.append(pageHeader('Change password'), h('section', { class: 'page-body narrow' }, form));
}

function groupForm({ name = '', isPublic = true, icon = '', requireIcon, submit, label }) {
  const nameInput = h('input', { type: 'text', required: true, minlength: 3, maxlength: 60, value: name });
  const publicBox = h('input', { type: 'checkbox', id: 'g-public', checked: isPublic });
  const picker = imagePicker('Group icon', { required: requireIcon, current: icon, name });
  const form = h('form', { class: 'form' },
    picker.el,
    field('Group name', nameInput, 'At least 3 characters.'),
    h('div', { class: 'check' }, publicBox, h('label', { for: 'g-public' }, 'Public: anyone can find and join it')),
    h('p', { class: 'form-error', role: 'alert' }),
    h('button', { class: 'button primary', type: 'submit' }, label));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    busy(form, () => submit({ sessionName: nameInput.value.trim(), publicType: publicBox.checked ? 1 : 0, sessionIcon: picker.file() }));
  });
  return form;
}

export function newGroup(main) {
  main.append(pageHeader('New group'), h('section', { class: 'page-body narrow' }, groupForm({
    requireIcon: true,
    label: 'Create group',
    submit: async (fields) => {
      if (!fields.sessionIcon) throw new Error('Please choose an icon for the group.');
      const { sessionid } = await authed('createGroupSession', fields);
      await app.refreshSessions();
      app.toast(`Group ${fields.sessionName} created.`);
      app.openChat(sessionid);
    },
  })));
}

export function groupSettings(main, sid) {
  const body = h('section', { class: 'page-body narrow' }, h('p', { class: 'muted', role: 'status' }, 'Loading…'));
  main.append(pageHeader('Group settings'), body);
  (async () => {
    let session;
    try {
      ({ session } = await authed('getGroupSessionInfo', { sessionid: sid }));
    } catch (e) {
      replace(body, h('p', { class: 'error-text' }, e.message));
      app.error(e);
      return;
    }
    replace(body, groupForm({
      name: session.sessionName,
      isPublic: session.publicType === 1,
      icon: session.sessionIcon,
      requireIcon: false,
      label: 'Save changes',
      submit: async (fields) => {
        await authed('editGroupSession', { sessionid: sid, ...fields, sessionIcon: fields.sessionIcon ?? undefined });
        await app.refreshSessions();
        app.toast('Group saved.');
        app.openChat(sid);
      },
    }));
  })();
}
