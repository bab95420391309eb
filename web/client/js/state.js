// The state every view reads, and the actions they call (navigation, toasts, sign-in and
// sign-out, refreshes). It imports nothing: the shell (app.js) imports the views and fills
// in the actions when it starts, so no view imports the module that imports it.

/** Shown when the server no longer accepts our token: this device's login was ended (from
 * another device, by a password change there) or has expired. */
export const SIGNED_OUT = 'You were signed out on this device.';

const missing = (name) => () => {
  throw new Error(`app.${name} is used before the shell provided it`);
};

/** Shared state, and the shell's actions once it has started. */
export const app = {
  me: { uid: '', nickname: '', avatar: '' },
  sessions: [], // joined chats, newest first (listSessions isPublic=0 shape)
  notificationCount: 0,
  currentSid: '', // the chat on screen: its pushes do not count as unread
  push: null,
  events: new EventTarget(),
  go: missing('go'),
  toast: missing('toast'),
  error: missing('error'),
  refused: missing('refused'),
  signedOutHere: missing('signedOutHere'),
  checkSignedIn: missing('checkSignedIn'),
  refreshSessions: missing('refreshSessions'),
  refreshNotificationCount: missing('refreshNotificationCount'),
  setNotificationCount: missing('setNotificationCount'),
  refreshToken: missing('refreshToken'),
  signedIn: missing('signedIn'),
  signOut: missing('signOut'),
  openChat: missing('openChat'),
  clearUnread: missing('clearUnread'),
};

/** The shell provides its actions (called once, before the first route). */
export function provide(actions) {
  Object.assign(app, actions);
}
