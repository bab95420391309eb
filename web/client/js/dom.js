// Building DOM nodes without innerHTML: user text always goes in as text nodes, so nothing a
// user sends can become markup. No inline styles or handlers either (the page runs under a
// strict Content-Security-Policy); handlers are attached with addEventListener.

/** h('button', {class: 'x', onclick: fn, 'aria-label': '…'}, child, …) */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs ?? {})) {
    if (value == null || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key === 'value') el.value = value;
    else if (key === 'checked') el.checked = Boolean(value);
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

/** Appends children (nodes, strings, arrays, null) to el. */
export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child == null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** Replaces the children of el. */
export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

/** The URL of a stored file (avatar, icon, upload). */
export function fileUrl(id) {
  return `/api/getFile?id=${encodeURIComponent(id)}`;
}

const PALETTE = ['#6366f1', '#0ea5e9', '#10b981', '#f59e0b', '#ef4444', '#ec4899', '#8b5cf6', '#14b8a6'];

/** A round avatar: the stored image, or initials on a colour when there is none. */
export function avatar(id, name, size = 'md') {
  const label = name || '?';
  if (id) {
    return h('img', { class: `avatar avatar-${size}`, src: fileUrl(id), alt: '', loading: 'lazy', decoding: 'async' });
  }
  const el = h('span', { class: `avatar avatar-${size} avatar-initials`, 'aria-hidden': 'true' }, initials(label));
  let hash = 0;
  for (const c of label) hash = (hash * 31 + c.codePointAt(0)) >>> 0;
  el.style.backgroundColor = PALETTE[hash % PALETTE.length];
  return el;
}

function initials(name) {
  const parts = name.trim().split(/\s+/).filter(Boolean);
  const letters = parts.length > 1 ? [parts[0], parts[1]] : [name.trim()];
  return letters.map((p) => [...p][0] ?? '').join('').toUpperCase().slice(0, 2) || '?';
}

/** Text with http(s) links made clickable (as real elements, never markup). */
export function linkified(text) {
  const out = [];
  const re = /\bhttps?:\/\/[^\s<>"']+[^\s<>"'.,;:!?)\]]/g;
  let last = 0;
  for (const match of text.matchAll(re)) {
    out.push(text.slice(last, match.index));
    out.push(h('a', { href: match[0], target: '_blank', rel: 'noopener noreferrer' }, match[0]));
    last = match.index + match[0].length;
  }
  out.push(text.slice(last));
  return out;
}

/** Human size: 1.2 MB. */
export function formatSize(bytes) {
  if (!Number.isFinite(bytes) || bytes < 0) return '';
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(bytes < 10240 ? 1 : 0)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

/** An SVG icon from a path list (24x24 viewBox), decorative. */
export function icon(name) {
  const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('class', `icon icon-${name}`);
  for (const d of ICONS[name] ?? []) {
    const path = document.createElementNS('http://www.w3.org/2000/svg', 'path');
    path.setAttribute('d', d);
    svg.append(path);
  }
  return svg;
}

const ICONS = {
  send: ['M3 11.5 21 3l-8.5 18-2.2-7.3z', 'M10.3 13.7 21 3'],
  attach: ['M21 11.5 12.6 20a5.5 5.5 0 0 1-7.8-7.8l8.5-8.5a3.7 3.7 0 0 1 5.2 5.2l-8.5 8.5a1.8 1.8 0 0 1-2.6-2.6l7.8-7.8'],
  image: ['M4 5h16v14H4z', 'M4 16l5-5 4 4 3-3 4 4', 'M15.5 9.5h.01'],
  mic: ['M12 3a3 3 0 0 1 3 3v6a3 3 0 0 1-6 0V6a3 3 0 0 1 3-3z', 'M5 11a7 7 0 0 0 14 0', 'M12 18v3'],
  stop: ['M7 7h10v10H7z'],
  back: ['M15 5l-7 7 7 7'],
  more: ['M12 5h.01', 'M12 12h.01', 'M12 19h.01'],
  chats: ['M4 5h16v11H9l-5 4z'],
  compass: ['M12 3a9 9 0 1 0 0 18 9 9 0 0 0 0-18z', 'M15.5 8.5l-2 5-5 2 2-5z'],
  users: ['M9 11a4 4 0 1 0 0-8 4 4 0 0 0 0 8z', 'M2 21a7 7 0 0 1 14 0', 'M16 3.5a4 4 0 0 1 0 7.5', 'M18 14a6 6 0 0 1 4 6'],
  bell: ['M6 16V11a6 6 0 1 1 12 0v5l2 2H4z', 'M10 20a2 2 0 0 0 4 0'],
  plus: ['M12 5v14', 'M5 12h14'],
  user: ['M12 12a4 4 0 1 0 0-8 4 4 0 0 0 0 8z', 'M4 21a8 8 0 0 1 16 0'],
  key: ['M14 10a4 4 0 1 0-1.2 2.8L20 20', 'M17 17l2-2'],
  devices: ['M3 5h12v9H3z', 'M1 18h11', 'M17 8h5v12h-5z', 'M19.5 17h.01'],
  laptop: ['M5 5h14v10H5z', 'M2 19h20'],
  phone: ['M8 3h8v18H8z', 'M12 17.5h.01'],
  logout: ['M15 4h4v16h-4', 'M10 8l-4 4 4 4', 'M6 12h10'],
  file: ['M6 3h8l4 4v14H6z', 'M14 3v4h4'],
  download: ['M12 4v11', 'M7 10l5 5 5-5', 'M5 20h14'],
  close: ['M6 6l12 12', 'M18 6L6 18'],
  search: ['M11 4a7 7 0 1 0 0 14 7 7 0 0 0 0-14z', 'M20 20l-4-4'],
  reply: ['M9 14 4 9l5-5', 'M4 9h10a6 6 0 0 1 6 6v4'],
  settings: ['M12 9a3 3 0 1 0 0 6 3 3 0 0 0 0-6z', 'M19 12a7 7 0 0 0-.1-1.2l2-1.6-2-3.4-2.4 1a7 7 0 0 0-2-1.2L14 3h-4l-.5 2.6a7 7 0 0 0-2 1.2l-2.4-1-2 3.4 2 1.6a7 7 0 0 0 0 2.4l-2 1.6 2 3.4 2.4-1a7 7 0 0 0 2 1.2L10 21h4l.5-2.6a7 7 0 0 0 2-1.2l2.4 1 2-3.4-2-1.6c.1-.4.1-.8.1-1.2z'],
};
