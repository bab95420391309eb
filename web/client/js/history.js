// Merging chat history without message ids. CookIM's wire format gives messages no id (a later
// protocol change adds one), so a message is identified by its content key (sender, kind, text,
// file id, second), and pages from `listMessages` are lined up against what we already show by
// sequence alignment: two identical messages in the same second still count as two.

/** The identity of a stored message as the wire shows it. */
export function keyOf(m) {
  return [m.uid, m.msgType, m.content, m.fileid, m.thumbid, m.fileName, m.dateline].join('\u0001');
}

/** Kinds the server stores (and returns in history); the others are live-only notices. */
export function isStored(m) {
  return m.msgType === 'text' || m.msgType === 'file' || m.msgType === 'join' || m.msgType === 'leave';
}

function sameRun(a, aStart, b, bStart, length) {
  for (let i = 0; i < length; i += 1) if (keyOf(a[aStart + i]) !== keyOf(b[bStart + i])) return false;
  return true;
}

/**
 * `fetched` is the newest page (oldest first) and `local` the stored messages we show. Returns
 * the messages of `fetched` newer than everything in `local`, and whether the two overlap (if
 * not, there may be a gap and the caller should fetch more, or start over).
 */
export function newerThan(local, fetched) {
  if (local.length === 0) return { newer: fetched, overlap: true };
  for (let known = Math.min(local.length, fetched.length); known > 0; known -= 1) {
    if (sameRun(fetched, 0, local, local.length - known, known)) {
      return { newer: fetched.slice(known), overlap: true };
    }
  }
  // Our newest may be further back than the page starts: look for it inside the page.
  const lastKey = keyOf(local[local.length - 1]);
  for (let i = fetched.length - 1; i >= 0; i -= 1) {
    if (keyOf(fetched[i]) === lastKey) return { newer: fetched.slice(i + 1), overlap: true };
  }
  return { newer: fetched, overlap: false };
}

/**
 * `fetched` (oldest first) ends somewhere inside or just before `local`. Returns the messages
 * older than `local[0]`, or null when the page does not reach `local` (cannot be lined up).
 */
export function olderThan(local, fetched) {
  if (local.length === 0) return fetched;
  for (let start = 0; start < fetched.length; start += 1) {
    const length = Math.min(fetched.length - start, local.length);
    if (sameRun(fetched, start, local, 0, length)) return fetched.slice(0, start);
  }
  return null;
}

/**
 * Live messages that arrived while a history page was being fetched may or may not be in that
 * page. Drops those that are (each history message can absorb one live copy).
 */
export function withoutEchoes(live, page) {
  const counts = new Map();
  for (const m of page) counts.set(keyOf(m), (counts.get(keyOf(m)) ?? 0) + 1);
  return live.filter((m) => {
    const n = counts.get(keyOf(m)) ?? 0;
    if (n === 0) return true;
    counts.set(keyOf(m), n - 1);
    return false;
  });
}
