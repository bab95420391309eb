// Profile and avatar, password, sessions (signed-in devices), and creating or editing a group.

import { authed } from '../api.js';
import { app } from '../state.js';
import { avatar, h, icon, replace } from '../dom.js';
import { parseTimestr, timeElement } from '../time.js';
import { busy, field } from './auth.js';
import { confirmDialog } from './dialogs.js';
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
    const receipts = h('input', { type: 'checkbox', id: 'p-receipts', checked: !info.hideReceipts });
    const form = h('form', { class: 'form' },
      picker.el,
      field('Nickname', nickname),
      h('fieldset', { class: 'radios' }, h('legend', null, 'Gender'),
        h('span', { class: 'check' }, boy, h('label', { for: 'p-boy' }, 'Boy')),
        h('span', { class: 'check' }, girl, h('label', { for: 'p-girl' }, 'Girl'))),
      h('fieldset', { class: 'radios' }, h('legend', null, 'Privacy'),
        h('span', { class: 'check' }, receipts, h('label', { for: 'p-receipts' }, 'Send read receipts')),
        h('span', { class: 'muted small' }, 'Off: nobody sees when you have read their messages (you still see theirs).')),
      h('dl', { class: 'facts' },
        h('dt', null, 'Email'), h('dd', null, info.login),
        h('dt', null, 'Sign-ins'), h('dd', null, String(info.loginCount))),
      h('p', { class: 'form-error', role: 'alert' }),
      h('button', { class: 'button primary', type: 'submit' }, 'Save profile'));
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      busy(form, async () => {
        await authed('updateUser', { nickname: nickname.value.trim(), gender: girl.checked ? 2 : 1, avatar: picker.file(), hideReceipts: receipts.checked ? 0 : 1 });
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

// ---- sessions: the devices signed in as us ----

const BROWSERS = [
  [/\bEdg(e|A|iOS)?\//, 'Edge'],
  [/\bOPR\/|\bOpera\b/, 'Opera'],
  [/\bSamsungBrowser\//, 'Samsung Internet'],
  [/\bFirefox\/|\bFxiOS\//, 'Firefox'],
  [/\bChromium\//, 'Chromium'],
  [/\bCriOS\/|\b(Headless)?Chrome\//, 'Chrome'],
  [/\bVersion\/[\d.]+.*\bSafari\//, 'Safari'],
  [/\bMSIE |\bTrident\//, 'Internet Explorer'],
];
const SYSTEMS = [
  [/\biPhone\b/, 'iPhone'],
  [/\biPad\b/, 'iPad'],
  [/\bAndroid\b/, 'Android'],
  [/\bCrOS\b/, 'ChromeOS'],
  [/\bWindows\b/, 'Windows'],
  [/\bMac OS X\b|\bMacintosh\b/, 'macOS'],
  [/\bLinux\b/, 'Linux'],
];

/** A readable name for a User-Agent: "Chrome on Linux", "Safari on iPhone", "curl". */
export function deviceName(ua) {
  const text = (ua ?? '').trim();
  const browser = BROWSERS.find(([re]) => re.test(text))?.[1];
  const system = SYSTEMS.find(([re]) => re.test(text))?.[1];
  if (browser && system) return `${browser} on ${system}`;
  if (browser || system) return browser || system;
  const product = /^[A-Za-z][\w.-]*/.exec(text)?.[0]; // "curl/8.5.0": curl
  return product && product !== 'Mozilla' ? product : 'Unknown device';
}

/** Phones and tablets get a phone icon, the rest a laptop. */
function isHandheld(ua) {
  return /Mobi|iPhone|iPad|Android/.test(ua ?? '');
}

/** Device names for a list of logins; two alike get a number ("Chrome on Linux (2)"). */
function deviceLabels(logins) {
  const names = logins.map((l) => deviceName(l.device));
  const seen = new Map();
  return names.map((name) => {
    if (names.filter((n) => n === name).length < 2) return name;
    const n = (seen.get(name) ?? 0) + 1;
    seen.set(name, n);
    return `${name} (${n})`;
  });
}

export function sessions(main) {
  const list = h('ul', { class: 'card-list devices', 'aria-label': 'Signed-in devices', 'aria-busy': 'true', tabindex: '-1' },
    h('li', { class: 'empty-state', role: 'status' }, 'Loading…'));
  const endOthers = h('button', { class: 'button danger', type: 'button', hidden: true, onclick: () => endAllOthers() },
    icon('logout'), 'Sign out all other devices');
  const alone = h('p', { class: 'muted small', hidden: true }, 'Only this device is signed in.');
  main.append(pageHeader('Sessions'), h('section', { class: 'page-body' },
    h('p', { class: 'muted intro' }, 'Where you are signed in, most recently seen first. Signing a device out closes its chats there at once; changing your password signs out all but this one.'),
    list,
    h('div', { class: 'button-row devices-footer' }, endOthers, alone)));

  let alive = true;
  let others = 0;

  const row = (l, label) => h('li', { class: `card device${l.current ? ' current' : ''}` },
    h('span', { class: 'device-icon' }, icon(isHandheld(l.device) ? 'phone' : 'laptop')),
    h('div', { class: 'device-text' },
      h('h2', { class: 'device-name' }, h('span', { title: l.device || 'No browser name was sent' }, label),
        l.current ? h('span', { class: 'tag tag-current' }, 'This device') : null),
      h('p', { class: 'muted small device-meta' },
        h('span', null, 'Signed in ', timeElement(parseTimestr(l.created))),
        h('span', null, 'Last seen ', l.current ? 'now' : timeElement(parseTimestr(l.lastSeen)))),
      l.device ? h('p', { class: 'muted small device-ua', title: l.device }, l.device) : null),
    l.current ? null : h('button', { class: 'button small danger device-end', type: 'button', 'aria-label': `Sign out ${label}`, onclick: () => endOne(l, label) },
      icon('logout'), 'Sign out'));

  const load = async () => {
    list.setAttribute('aria-busy', 'true');
    let logins;
    try {
      ({ logins } = await authed('listLogins'));
    } catch (e) {
      if (!alive) return;
      list.removeAttribute('aria-busy');
      replace(list, h('li', { class: 'empty-state error-text' }, e.message));
      app.error(e);
      return;
    }
    if (!alive) return;
    const labels = deviceLabels(logins);
    others = logins.filter((l) => !l.current).length;
    replace(list, logins.map((l, i) => row(l, labels[i])));
    list.removeAttribute('aria-busy');
    endOthers.hidden = others === 0;
    alone.hidden = others !== 0;
  };

  /** After a sign-out the clicked button is gone: keep the focus on the page. */
  const refocus = () => {
    if (!alive) return;
    if (!endOthers.hidden) endOthers.focus();
    else list.focus();
  };

  const endOne = async (l, label) => {
    if (!(await confirmDialog('Sign out this device?', `${label} will be signed out at once and needs your password to sign in again.`, 'Sign out'))) return;
    try {
      await authed('endLogins', { loginid: l.loginid });
      app.toast(`${label} was signed out.`);
    } catch (e) {
      app.error(e);
    }
    await load();
    refocus();
  };

  const endAllOthers = async () => {
    const what = others === 1 ? 'The other device' : `All ${others} other devices`;
    if (!(await confirmDialog('Sign out all other devices?', `${what} will be signed out at once. This device stays signed in.`, 'Sign out all'))) return;
    try {
      const { ended } = await authed('endLogins', { others: 1 });
      app.toast(ended === 1 ? '1 device was signed out.' : `${ended} devices were signed out.`);
    } catch (e) {
      app.error(e);
    }
    await load();
    refocus();
  };

  // Coming back to the tab: last-seen times (and the list) may have changed.
  const onVisible = () => {
    if (document.visibilityState === 'visible') load();
  };
  document.addEventListener('visibilitychange', onVisible);
  load();
  return () => {
    alive = false;
    document.removeEventListener('visibilitychange', onVisible);
  };
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
