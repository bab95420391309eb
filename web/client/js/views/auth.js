// Sign in and create an account.

import { call, rememberedLogin } from '../api.js';
import { app } from '../state.js';
import { h, replace } from '../dom.js';

function authPage(root, title, subtitle, form, footer) {
  replace(root, h('div', { class: 'auth-page' },
    h('div', { class: 'auth-card' },
      h('div', { class: 'auth-brand' }, h('img', { src: 'icon.svg', alt: '', class: 'auth-logo' }), h('span', null, 'cookim')),
      h('h1', null, title),
      h('p', { class: 'muted' }, subtitle),
      form,
      h('p', { class: 'auth-footer' }, footer))));
}

export function field(label, input, hint) {
  const id = input.id || `f-${Math.random().toString(36).slice(2)}`;
  input.id = id;
  const hintEl = hint ? h('span', { class: 'field-hint', id: `${id}-hint` }, hint) : null;
  if (hintEl) input.setAttribute('aria-describedby', hintEl.id);
  return h('div', { class: 'field' }, h('label', { for: id }, label), input, hintEl);
}

/** Disables a form's submit button while `work` runs; shows any failure. */
export async function busy(form, work) {
  const button = form.querySelector('[type=submit]');
  const error = form.querySelector('.form-error');
  if (error) error.textContent = '';
  button.disabled = true;
  form.setAttribute('aria-busy', 'true');
  try {
    await work();
  } catch (e) {
    if (error) error.textContent = e.message;
    app.error(e);
  } finally {
    button.disabled = false;
    form.removeAttribute('aria-busy');
  }
}

export function login(root) {
  const email = h('input', { type: 'email', name: 'login', required: true, autocomplete: 'username', value: rememberedLogin.get() });
  const password = h('input', { type: 'password', name: 'password', required: true, minlength: 6, autocomplete: 'current-password' });
  const remember = h('input', { type: 'checkbox', name: 'remember', id: 'remember', checked: Boolean(rememberedLogin.get()) });
  const form = h('form', { class: 'form', novalidate: false },
    field('Email', email),
    field('Password', password),
    h('div', { class: 'check' }, remember, h('label', { for: 'remember' }, 'Remember me on this device')),
    h('p', { class: 'form-error', role: 'alert' }),
    h('button', { class: 'button primary wide', type: 'submit' }, 'Sign in'));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    busy(form, async () => {
      const answer = await call('loginUser', { login: email.value.trim(), password: password.value });
      rememberedLogin.set(remember.checked ? email.value.trim() : '');
      await app.signedIn(answer.uid, answer.userToken, remember.checked);
    });
  });
  authPage(root, 'Welcome back', 'Sign in to chat with your friends and groups.', form,
    ['New here? ', h('a', { href: '#/register' }, 'Create an account')]);
  (email.value ? password : email).focus();
}

export function register(root) {
  const email = h('input', { type: 'email', name: 'login', required: true, autocomplete: 'username' });
  const nickname = h('input', { type: 'text', name: 'nickname', required: true, minlength: 4, maxlength: 40, autocomplete: 'nickname' });
  const password = h('input', { type: 'password', name: 'password', required: true, minlength: 6, autocomplete: 'new-password' });
  const repeat = h('input', { type: 'password', name: 'repassword', required: true, minlength: 6, autocomplete: 'new-password' });
  const boy = h('input', { type: 'radio', name: 'gender', value: '1', id: 'gender-boy', checked: true });
  const girl = h('input', { type: 'radio', name: 'gender', value: '2', id: 'gender-girl' });
  const form = h('form', { class: 'form' },
    field('Email', email, 'You sign in with it.'),
    field('Nickname', nickname, 'At least 4 characters; others see it.'),
    field('Password', password, 'At least 6 characters.'),
    field('Repeat password', repeat),
    h('fieldset', { class: 'radios' }, h('legend', null, 'Gender'),
      h('span', { class: 'check' }, boy, h('label', { for: 'gender-boy' }, 'Boy')),
      h('span', { class: 'check' }, girl, h('label', { for: 'gender-girl' }, 'Girl'))),
    h('p', { class: 'form-error', role: 'alert' }),
    h('button', { class: 'button primary wide', type: 'submit' }, 'Create account'));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    busy(form, async () => {
      const answer = await call('registerUser', {
        login: email.value.trim(),
        nickname: nickname.value.trim(),
        password: password.value,
        repassword: repeat.value,
        gender: girl.checked ? 2 : 1,
      });
      await app.signedIn(answer.uid, answer.userToken, false);
      app.go('#/discover');
    });
  });
  authPage(root, 'Create your account', 'Join public groups, add friends and chat.', form,
    ['Already have an account? ', h('a', { href: '#/login' }, 'Sign in')]);
  email.focus();
}
