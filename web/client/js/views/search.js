// Search over every chat you are in (`searchMessages`, a cookim extension): words match whole
// or by their beginning, whatever the accents and case; results newest first, each opening its
// chat at the message.

import { authed } from '../api.js';
import { avatar, h, icon, replace } from '../dom.js';
import { parseTimestr, timeElement } from '../time.js';
import { pageHeader } from './lists.js';

/** The snippet as text nodes, the matched words in <mark> (never HTML from the server). */
function highlighted(snippet, highlights) {
  const chars = Array.from(snippet);
  const out = [];
  let at = 0;
  for (const [start, end] of highlights) {
    if (start < at || end > chars.length) continue;
    if (start > at) out.push(chars.slice(at, start).join(''));
    out.push(h('mark', null, chars.slice(start, end).join('')));
    at = end;
  }
  if (at < chars.length) out.push(chars.slice(at).join(''));
  return out;
}

function resultRow(r) {
  const href = `#/chat/${encodeURIComponent(r.sessionid)}/${r.seq}`;
  const what = r.msgType === 'file' ? [icon('file'), ' '] : [];
  return h('li', { class: 'search-result' },
    h('a', { class: 'search-link', href, 'aria-label': `${r.nickname} in ${r.sessionName}: ${r.snippet}` },
      avatar(r.avatar, r.nickname, 'sm'),
      h('span', { class: 'search-text' },
        h('span', { class: 'search-meta' }, h('strong', null, r.sessionName), ' · ', r.nickname, ' · ', timeElement(parseTimestr(r.dateline))),
        h('span', { class: 'search-snippet' }, ...what, ...highlighted(r.snippet, r.highlights)))));
}

export function view(main) {
  const input = h('input', { type: 'search', id: 'search-q', name: 'q', required: true, placeholder: 'Words, or their beginnings', maxlength: 256, autocomplete: 'off' });
  const results = h('ul', { class: 'search-results', 'aria-label': 'Messages found' });
  const more = h('button', { class: 'button', type: 'button', hidden: true }, 'More results');
  const note = h('p', { class: 'muted', role: 'status' });
  const form = h('form', { class: 'search-form', role: 'search', 'aria-label': 'Search messages' },
    h('div', { class: 'field' }, h('label', { for: 'search-q' }, 'Search your chats'), input),
    h('button', { class: 'button primary', type: 'submit' }, icon('search'), 'Search'));
  main.append(pageHeader('Search'), h('section', { class: 'page-body' }, form, note, results, more));
  let alive = true;
  let query = '';
  let next = '';

  async function run(append) {
    more.disabled = true;
    try {
      const answer = await authed('searchMessages', { q: query, count: 20, before: append ? next : '' });
      if (!alive) return;
      next = answer.next;
      const rows = answer.results.map(resultRow);
      if (append) results.append(...rows);
      else replace(results, rows);
      const shown = results.children.length;
      note.textContent = shown === 0 ? `Nothing found for “${query}”.` : `${shown} message${shown === 1 ? '' : 's'} found${next ? ' so far' : ''}.`;
      more.hidden = !next;
    } catch (e) {
      if (alive) note.textContent = e.message;
    } finally {
      more.disabled = false;
    }
  }

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    query = input.value.trim();
    if (!query) return;
    run(false);
  });
  more.addEventListener('click', () => run(true));
  input.focus();
  return () => {
    alive = false;
  };
}
