// The `/api` routes (spec §6): POST forms (three multipart ones), HTTP 200 with a non-empty
// `errmsg` on failure. Every failure becomes an ApiError carrying the server's own message, so
// the page can show it as is.

/** A failed call: `message` is the server's errmsg, or what went wrong on the way. */
export class ApiError extends Error {
  constructor(message, { denied = false } = {}) {
    super(message);
    this.name = 'ApiError';
    /** The server refused our token (expired, revoked by a logout elsewhere). */
    this.denied = denied;
  }
}

const MULTIPART = new Set(['updateUser', 'createGroupSession', 'editGroupSession']);

/** Calls /api/<route> with these fields (a File value makes a file part). */
export async function call(route, fields = {}) {
  let body;
  if (MULTIPART.has(route)) {
    body = new FormData();
    for (const [name, value] of Object.entries(fields)) {
      if (value instanceof Blob) body.append(name, value, value.name || 'upload');
      else if (value != null) body.append(name, String(value));
    }
  } else {
    body = new URLSearchParams();
    for (const [name, value] of Object.entries(fields)) if (value != null) body.append(name, String(value));
  }
  let res;
  try {
    res = await fetch(`/api/${route}`, { method: 'POST', body, credentials: 'omit' });
  } catch {
    throw new ApiError('Cannot reach the server. Check your connection and try again.');
  }
  if (res.status === 413) throw new ApiError('That file is too large for the server.');
  if (!res.ok) throw new ApiError(`The server answered ${res.status} ${res.statusText}.`.trim());
  let data;
  try {
    data = await res.json();
  } catch {
    throw new ApiError('The server sent an unreadable answer.');
  }
  if (data.errmsg) throw new ApiError(data.errmsg, { denied: /no privilege/.test(data.errmsg) });
  return data;
}

const KEY = 'cookim.auth';

/** Who is signed in, kept in localStorage ("remember me") or sessionStorage (this tab). */
export const auth = {
  uid: '',
  token: '',
  remember: false,

  load() {
    for (const [store, remember] of [[localStorage, true], [sessionStorage, false]]) {
      try {
        const saved = JSON.parse(store.getItem(KEY) ?? 'null');
        if (saved?.uid && saved?.token) {
          Object.assign(this, { uid: saved.uid, token: saved.token, remember });
          return true;
        }
      } catch {
        store.removeItem(KEY);
      }
    }
    return false;
  },

  save(uid, token, remember = this.remember) {
    Object.assign(this, { uid, token, remember });
    (remember ? sessionStorage : localStorage).removeItem(KEY);
    (remember ? localStorage : sessionStorage).setItem(KEY, JSON.stringify({ uid, token }));
  },

  clear() {
    Object.assign(this, { uid: '', token: '' });
    localStorage.removeItem(KEY);
    sessionStorage.removeItem(KEY);
  },
};

/** A call carrying our userToken. */
export function authed(route, fields = {}) {
  return call(route, { userToken: auth.token, ...fields });
}

/** The login name (email) to pre-fill, if "remember me" was ticked. */
export const rememberedLogin = {
  get: () => localStorage.getItem('cookim.login') ?? '',
  set: (login) => (login ? localStorage.setItem('cookim.login', login) : localStorage.removeItem('cookim.login')),
};
