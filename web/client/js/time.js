// CookIM dates are `MM-dd HH:mm:ss` in the server's time zone, without a year (spec §0). We read
// them as local time in the current year, or last year when that would put them in the future
// (a message from 12-31 read on 01-01).

/** A Date for a timestr, or null. */
export function parseTimestr(text, now = new Date()) {
  const m = /^(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)$/.exec(text ?? '');
  if (!m) return null;
  const [month, day, hour, minute, second] = m.slice(1).map(Number);
  let date = new Date(now.getFullYear(), month - 1, day, hour, minute, second);
  if (date.getTime() - now.getTime() > 24 * 3600 * 1000) {
    date = new Date(now.getFullYear() - 1, month - 1, day, hour, minute, second);
  }
  return date;
}

const timeFmt = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
const fullFmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'full', timeStyle: 'medium' });
const dayFmt = new Intl.DateTimeFormat(undefined, { weekday: 'long', month: 'long', day: 'numeric' });
const shortDayFmt = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric' });
const weekdayFmt = new Intl.DateTimeFormat(undefined, { weekday: 'short' });

function startOfDay(d) {
  return new Date(d.getFullYear(), d.getMonth(), d.getDate());
}

function daysBetween(a, b) {
  return Math.round((startOfDay(b) - startOfDay(a)) / 86400000);
}

/** "just now", "5 min ago", "14:02", "Yesterday 14:02", "Mon 14:02", "Mar 3". */
export function relative(date, now = new Date()) {
  if (!date) return '';
  const seconds = Math.round((now - date) / 1000);
  if (seconds < 45) return 'just now';
  if (seconds < 3600) return `${Math.max(1, Math.round(seconds / 60))} min ago`;
  const days = daysBetween(date, now);
  if (days === 0) return timeFmt.format(date);
  if (days === 1) return `Yesterday ${timeFmt.format(date)}`;
  if (days < 7) return `${weekdayFmt.format(date)} ${timeFmt.format(date)}`;
  return shortDayFmt.format(date);
}

/** The absolute time, for titles. */
export function absolute(date) {
  return date ? fullFmt.format(date) : '';
}

/** "Today", "Yesterday" or "Monday, March 3": the label of a day separator. */
export function dayLabel(date, now = new Date()) {
  const days = daysBetween(date, now);
  if (days === 0) return 'Today';
  if (days === 1) return 'Yesterday';
  return dayFmt.format(date);
}

/** Same calendar day? */
export function sameDay(a, b) {
  return Boolean(a && b) && startOfDay(a).getTime() === startOfDay(b).getTime();
}

/** A <time> element that keeps its relative text fresh (see refreshTimes). */
export function timeElement(date, cls = 'time') {
  const el = document.createElement('time');
  el.className = cls;
  if (date) {
    el.dateTime = date.toISOString();
    el.title = absolute(date);
    el.textContent = relative(date);
  }
  return el;
}

/** Re-renders every relative time on the page (called every 30 s). */
export function refreshTimes(root = document) {
  const now = new Date();
  for (const el of root.querySelectorAll('time[datetime]')) {
    el.textContent = relative(new Date(el.dateTime), now);
  }
}
