// Browser tests of cookim's web client: the real `cookim` binary on a free port with a fresh
// data dir (embedded store), driven in Debian's Chromium (headless) by playwright-core.
//
// Three people: alice and bobby on desktop windows, carol on a 375x812 phone viewport. They
// register, become friends, make a group, chat both ways, send an image, a file and a voice
// message, watch unread badges change live, and survive a server restart without missing or
// repeating a message. Then dave signs in on a PC, a phone and a laptop (three contexts with
// their own User-Agents): the phone's Sessions page signs the PC out (which lands on the login
// page at once), a logout on the phone leaves the laptop signed in, and a password change on the
// laptop signs the phone out. Controls are found by role and accessible name (which checks the labels).
// Any page error or console error fails the run. Screenshots go to ./screenshots/.
//
//   node run.mjs            (COOKIM_BIN=path/to/cookim to pick the binary)

import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { crc32, deflateSync } from 'node:zlib';
import { chromium } from 'playwright-core';

const HERE = dirname(fileURLToPath(import.meta.url));
const SHOTS = join(HERE, 'screenshots');
const TARGET = process.env.CARGO_TARGET_DIR || join(homedir(), '.cache/cookim/target');
const BIN = process.env.COOKIM_BIN || join(TARGET, 'debug/cookim');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
/** Bounds every wait; a passing run never waits this long. */
const WAIT_MS = 20000;
const started = Date.now();

// ---- small helpers ------------------------------------------------------------------

function log(text) {
  console.log(`[${((Date.now() - started) / 1000).toFixed(1)}s] ${text}`);
}

function fail(text) {
  throw new Error(text);
}

/** Polls `check` (sync or async) until it returns a truthy value; the deadline names `what`. */
async function until(what, check, timeout = WAIT_MS) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await check();
      if (last) return last;
    } catch (e) {
      last = e.message;
    }
    if (Date.now() > deadline) fail(`timed out waiting for ${what} (last: ${JSON.stringify(last)})`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A PNG of w x h pixels with a colour gradient. */
function png(w, h, seed = 0) {
  const raw = Buffer.alloc((w * 3 + 1) * h);
  for (let y = 0; y < h; y += 1) {
    // Filter 1 ("Sub"): each byte is stored as the difference to the pixel on its left, so
    // even a large gradient compresses to a small file.
    raw[y * (w * 3 + 1)] = 1;
    let prev = [0, 0, 0];
    for (let x = 0; x < w; x += 1) {
      const i = y * (w * 3 + 1) + 1 + x * 3;
      const px = [Math.floor((x * 255) / w), Math.floor((y * 255) / h), (seed * 60 + 120) % 256];
      for (let c = 0; c < 3; c += 1) raw[i + c] = (px[c] - prev[c]) & 255;
      prev = px;
    }
  }
  const chunk = (type, data) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body));
    return Buffer.concat([len, body, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8;
  ihdr[9] = 2;
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex');

// ---- the server -------------------------------------------------------------------------

class Server {
  constructor(dataDir) {
    this.dataDir = dataDir;
    this.port = 0;
  }

  /** Starts cookim (on the previous port after a stop) and reads the URL it prints. */
  async start() {
    const env = { ...process.env, RUST_LOG: 'warn' };
    delete env.MONGO_URI; // the embedded store, whatever the caller's environment says
    delete env.COOKIM_WWW;
    const child = spawn(BIN, ['-w', String(this.port), '--data-dir', this.dataDir], { env, stdio: ['ignore', 'pipe', 'inherit'] });
    this.child = child;
    const line = await new Promise((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (data) => {
        out += data;
        if (out.includes('\n')) resolve(out.split('\n')[0]);
      });
      child.on('exit', (code) => reject(new Error(`cookim exited with ${code} before printing its URL`)));
      child.on('error', reject);
    });
    const m = /^cookim started! Open (http:\/\/127\.0\.0\.1:(\d+)\/)$/.exec(line);
    if (!m) fail(`unexpected start-up line: ${line}`);
    this.url = m[1];
    this.port = Number(m[2]);
    log(`cookim serving ${this.url}`);
  }

  /** SIGTERM by PID; waits for the exit. */
  async stop() {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    const code = await Promise.race([exited, new Promise((r) => setTimeout(() => r('timeout'), WAIT_MS))]);
    if (code === 'timeout') {
      child.kill('SIGKILL');
      fail('cookim did not stop on SIGTERM');
    }
  }
}

// ---- people -----------------------------------------------------------------------------

const problems = [];
let outage = false;
const everyone = [];

async function person(browser, name, viewport, userAgent) {
  const context = await browser.newContext({ viewport, userAgent, deviceScaleFactor: 1, acceptDownloads: true, hasTouch: viewport.width < 500 });
  await context.grantPermissions(['microphone']);
  // Records every value an upload progress bar shows (the bar comes and goes quickly on
  // loopback). Init scripts are injected by the browser, not the page, so the CSP allows them.
  await context.addInitScript(() => {
    window.__progress = [];
    new MutationObserver((records) => {
      for (const r of records) {
        const el = r.target instanceof Element ? r.target : null;
        for (const bar of [el, ...(r.addedNodes ? [...r.addedNodes] : [])]) {
          if (bar instanceof Element) {
            for (const p of bar.matches?.('[role=progressbar]') ? [bar] : bar.querySelectorAll?.('[role=progressbar]') ?? []) {
              window.__progress.push({ label: p.getAttribute('aria-label'), now: Number(p.getAttribute('aria-valuenow')) });
            }
          }
        }
      }
    }).observe(document, { subtree: true, childList: true, attributes: true, attributeFilter: ['aria-valuenow'] });
  });
  const page = await context.newPage();
  page.on('pageerror', (e) => problems.push(`${name}: page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    // While the test has stopped the server on purpose (and taken bobby offline), the browser
    // itself logs each failed reconnection attempt, and each request the client makes meanwhile
    // (it retries them; bobby's notification poll may fall in that time); nothing else is
    // excused.
    if (outage && /^WebSocket connection to '.*' failed: /.test(m.text())) return;
    if (outage && /^Failed to load resource: net::ERR_(CONNECTION_REFUSED|INTERNET_DISCONNECTED)$/.test(m.text())) return;
    problems.push(`${name}: console error: ${m.text()}`);
  });
  page.setDefaultTimeout(WAIT_MS);
  const p = { name, context, page };
  everyone.push(p);
  return p;
}

async function shot(p, file) {
  mkdirSync(SHOTS, { recursive: true });
  // Let images finish decoding so the picture is what a person sees.
  await p.page.evaluate(() => Promise.all([...document.images].filter((i) => !i.complete).map((i) => new Promise((r) => { i.onload = r; i.onerror = r; }))));
  await p.page.screenshot({ path: join(SHOTS, file) });
  log(`screenshot ${file}`);
}

async function register(p, url, { email, nickname, password }) {
  const { page } = p;
  await page.goto(url);
  await page.getByRole('heading', { name: 'Welcome back' }).waitFor();
  await page.getByRole('link', { name: 'Create an account' }).click();
  await page.getByRole('heading', { name: 'Create your account' }).waitFor();
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Nickname').fill(nickname);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByLabel('Repeat password').fill(password);
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.getByRole('heading', { name: 'Discover' }).waitFor();
  // On a phone the sidebar (with the profile link) is its own page.
  if (page.viewportSize().width > 760) await page.getByRole('link', { name: `Your profile (${nickname})` }).waitFor();
  log(`${nickname} registered`);
}

async function signIn(p, url, { email, nickname, password }) {
  const { page } = p;
  await page.goto(url);
  await page.getByRole('heading', { name: 'Welcome back' }).waitFor();
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  // Lands on the chat list: on a phone that is the sidebar page, with the profile link too.
  await page.getByRole('link', { name: `Your profile (${nickname})` }).waitFor();
  log(`${p.name} signed in as ${nickname}`);
}

/** The Sessions page (from the sidebar, which on a phone is the chat list page). */
async function sessionsPage(p) {
  const { page } = p;
  const link = page.getByRole('link', { name: 'Sessions', exact: true });
  if (!(await link.isVisible())) await page.getByRole('link', { name: 'Back to chats' }).first().click();
  await link.click();
  await page.getByRole('heading', { name: 'Sessions', level: 1 }).waitFor();
  return page.getByRole('list', { name: 'Signed-in devices' });
}

/** The rows of the device list once it has loaded `n` of them. */
async function devices(p, list, n) {
  await until(`${p.name}'s Sessions page to list ${n} device(s)`, async () => {
    if (await list.getAttribute('aria-busy')) return false;
    const rows = await list.getByRole('listitem').allTextContents();
    if (rows.length === n) return true;
    throw new Error(rows.join(' | '));
  });
  return list.getByRole('listitem');
}

function auth(p) {
  return p.page.evaluate(() => localStorage.getItem('cookim.auth') ?? sessionStorage.getItem('cookim.auth'));
}

/** The main navigation: on a phone the chat list is a page of its own. */
async function nav(p, name) {
  const { page } = p;
  const link = page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name });
  if (!(await link.isVisible())) await page.getByRole('link', { name: 'Back to chats' }).first().click();
  await link.click();
}

async function befriend(p, nickname) {
  const { page } = p;
  await nav(p, 'Friends');
  await page.getByLabel('Find people by nickname').fill(nickname);
  await page.getByRole('button', { name: 'Search' }).click();
  await page.getByRole('button', { name: `Add ${nickname} as a friend` }).click();
  await page.getByRole('list', { name: 'Your friends' }).getByRole('button', { name: `Message ${nickname}` }).waitFor();
  log(`${p.name} added ${nickname} as a friend`);
}

function chatRow(p, name) {
  return p.page.getByRole('list', { name: 'Your chats' }).getByRole('link', { name: new RegExp(`^${name}, `) });
}

async function openChat(p, name) {
  const { page } = p;
  const back = page.getByRole('link', { name: 'Back to chats' }).first();
  if (await back.isVisible()) await back.click();
  await chatRow(p, name).click();
  await page.getByRole('log', { name: 'Messages' }).waitFor();
  await until(`${p.name}'s chat ${name} to be online`, async () => /here now|In the chat|Private chat/.test(await page.locator('.chat-status').textContent()));
}

function messages(p) {
  return p.page.getByRole('log', { name: 'Messages' });
}

async function send(p, text) {
  const box = p.page.getByLabel('Message', { exact: true });
  await box.fill(text);
  await box.press('Enter');
  await messages(p).getByText(text, { exact: true }).last().waitFor();
}

async function count(p, text) {
  return messages(p).locator('.msg-text').filter({ hasText: new RegExp(`^${text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`) }).count();
}

/** Waits for a chat row's accessible name to say `n` unread (0: no unread part). */
async function unread(p, chat, n) {
  await until(`${p.name} to see ${n} unread in ${chat}`, async () => {
    const label = await chatRow(p, chat).getAttribute('aria-label');
    if (n === 0 ? !/unread/.test(label) : label.endsWith(`, ${n} unread`)) return true;
    throw new Error(label);
  });
}

async function assertNoProblems() {
  if (problems.length) fail(`console or page errors:\n${problems.join('\n')}`);
}

// ---- the run ----------------------------------------------------------------------------

async function main() {
  const data = mkdtempSync(join(tmpdir(), 'cookim-browser-'));
  const files = mkdtempSync(join(tmpdir(), 'cookim-files-'));
  const server = new Server(join(data, 'data'));
  let browser;
  try {
    await server.start();
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
        '--disable-component-update', '--disable-sync', '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream',
        '--autoplay-policy=no-user-gesture-required'],
    });
    const url = server.url;

    // The page is served with a strict policy and nothing inline.
    const res = await fetch(url);
    const csp = res.headers.get('content-security-policy') ?? '';
    if (!csp.includes("script-src 'self'") || csp.includes('unsafe')) fail(`weak CSP: ${csp}`);

    const alice = await person(browser, 'alice', { width: 1280, height: 800 });
    const bob = await person(browser, 'bobby', { width: 1280, height: 800 });
    const carol = await person(browser, 'carol', { width: 375, height: 812 });

    // -- sign-in pages, errors from the server, register, logout, login with remember me --
    await alice.page.goto(url);
    await alice.page.getByRole('heading', { name: 'Welcome back' }).waitFor();
    await shot(alice, 'login.png');
    await alice.page.getByLabel('Email').fill('nobody@example.com');
    await alice.page.getByLabel('Password').fill('wrong-password');
    await alice.page.getByRole('button', { name: 'Sign in' }).click();
    await alice.page.getByRole('alert').filter({ hasText: 'user not exist or password not match' }).first().waitFor();
    log('a failed login shows the server\'s errmsg');
    await register(alice, url, { email: 'alice@example.com', nickname: 'alice', password: 'secret1' });
    await alice.page.getByRole('button', { name: 'Log out' }).click();
    await alice.page.getByRole('heading', { name: 'Welcome back' }).waitFor();
    await alice.page.getByLabel('Email').fill('alice@example.com');
    await alice.page.getByLabel('Password').fill('secret1');
    await alice.page.getByLabel('Remember me on this device').check();
    await alice.page.getByRole('button', { name: 'Sign in' }).click();
    await alice.page.getByRole('link', { name: 'Your profile (alice)' }).waitFor();
    await alice.page.reload();
    await alice.page.getByRole('link', { name: 'Your profile (alice)' }).waitFor();
    log('alice logged out, logged in with remember me, and stays signed in after a reload');

    await register(bob, url, { email: 'bob@example.com', nickname: 'bobby', password: 'secret2' });
    await register(carol, url, { email: 'carol@example.com', nickname: 'carol', password: 'secret3' });

    // -- profile and avatar --
    const avatarFile = join(files, 'avatar.png');
    writeFileSync(avatarFile, png(120, 120, 3));
    await alice.page.getByRole('link', { name: 'Your profile (alice)' }).click();
    await alice.page.getByLabel('Avatar').setInputFiles(avatarFile);
    await alice.page.getByRole('button', { name: 'Save profile' }).click();
    await alice.page.getByText('Profile saved.').waitFor();
    await until('alice\'s new avatar in the sidebar', () => alice.page.locator('.me img.avatar').count());

    // -- friends and a notification badge --
    await befriend(alice, 'bobby');
    await nav(bob, 'Friends');
    await bob.page.getByRole('link', { name: 'Notifications, 1 unread' }).waitFor();
    await befriend(bob, 'alice');
    await nav(bob, 'Notifications, 1 unread');
    await bob.page.getByText('alice join you as friend').waitFor();
    await bob.page.getByRole('link', { name: 'Notifications', exact: true }).waitFor();
    await shot(bob, 'notifications.png');
    await befriend(carol, 'alice');
    await befriend(alice, 'carol');

    // -- a group with an icon; bobby is invited --
    const iconFile = join(files, 'icon.png');
    writeFileSync(iconFile, png(200, 200, 1));
    await alice.page.getByRole('link', { name: 'New group' }).click();
    await alice.page.getByLabel('Group name').fill('Rustaceans');
    await alice.page.getByLabel('Group icon').setInputFiles(iconFile);
    await alice.page.getByRole('button', { name: 'Create group' }).click();
    await alice.page.getByRole('button', { name: 'Rustaceans: chat options' }).waitFor();
    await until('alice online in Rustaceans', async () => /here now/.test(await alice.page.locator('.chat-status').textContent()));
    await alice.page.getByRole('button', { name: 'Chat options', exact: true }).click();
    await alice.page.getByRole('button', { name: 'Invite friends' }).click();
    await alice.page.getByLabel('bobby').check();
    await alice.page.getByRole('button', { name: 'Invite', exact: true }).click();
    await messages(alice).getByText('bobby joined the group').waitFor();
    log('alice created Rustaceans and invited bobby');

    // -- live unread badges while bobby is elsewhere --
    await nav(bob, 'Friends');
    await chatRow(bob, 'Rustaceans').waitFor();
    await unread(bob, 'Rustaceans', 1); // the server counts the join event itself
    await send(alice, 'Hello Bob!');
    await unread(bob, 'Rustaceans', 2);
    await send(alice, 'Welcome to the group.');
    await unread(bob, 'Rustaceans', 3);
    await shot(bob, 'friends-with-badge.png');
    log('bobby\'s unread badge went live from 1 to 3');

    // -- chat both ways; Enter sends, Shift+Enter makes a new line --
    await openChat(bob, 'Rustaceans');
    await unread(bob, 'Rustaceans', 0);
    await messages(bob).getByText('Welcome to the group.').waitFor();
    const box = bob.page.getByLabel('Message', { exact: true });
    await box.fill('Hi Alice');
    await box.press('Shift+Enter');
    await box.pressSequentially('second line');
    await box.press('Enter');
    await messages(alice).getByText('Hi Alice\nsecond line').waitFor();
    await messages(bob).getByText('Hi Alice\nsecond line').waitFor();
    log('text both ways, with a multi-line message');

    // -- typing and read receipts (cookim extensions) --
    // The server forwards one typing event per 2 s: keep typing until it shows.
    const typing = alice.page.getByRole('status').filter({ hasText: 'bobby is typing…' });
    await until('alice to see bobby typing', async () => {
      await box.pressSequentially('typ');
      return typing.isVisible();
    });
    await box.fill('');
    // Bobby has the chat open and visible: Alice's messages show as read by everyone.
    await messages(alice).getByLabel('Read by everyone: bobby').first().waitFor();
    await send(alice, 'Did you read this?');
    await until('alice\'s newest message to be read by bobby', async () => {
      const ticks = messages(alice).locator('.msg.mine .ticks').last();
      return (await ticks.getAttribute('aria-label')) === 'Read by everyone: bobby';
    });
    await shot(alice, 'receipts-and-typing.png');
    log('alice saw "bobby is typing…" and read ticks on her messages');

    // -- search over all chats (a cookim extension); a result opens the chat at the message --
    await nav(alice, 'Search');
    await alice.page.getByLabel('Search your chats').fill('WELCOME grou');
    await alice.page.getByRole('button', { name: 'Search', exact: true }).click();
    const found = alice.page.getByRole('list', { name: 'Messages found' }).getByRole('link');
    await found.first().waitFor();
    if ((await found.count()) !== 1) fail(`expected one result, got ${await found.count()}`);
    const marks = await alice.page.locator('.search-snippet mark').allTextContents();
    if (marks.join(',') !== 'Welcome,group') fail(`highlights: ${marks}`);
    await shot(alice, 'search.png');
    await found.first().click();
    await messages(alice).locator('li.msg.found').getByText('Welcome to the group.').waitFor();
    log('alice found "Welcome to the group." by "WELCOME grou" and opened the chat at it');

    // -- a reply with a quoted preview; the quote scrolls to the original --
    await messages(bob).getByRole('listitem').filter({ hasText: 'Did you read this?' }).getByRole('button', { name: 'Reply to alice' }).click();
    await bob.page.getByRole('group', { name: 'Replying to' }).getByText('Did you read this?').waitFor();
    await send(bob, 'Yes, I read it');
    const quote = messages(alice).getByRole('button', { name: /^In reply to alice: Did you read this\?/ });
    await quote.waitFor();
    if (!(await bob.page.getByRole('group', { name: 'Replying to' }).isHidden())) fail('the reply bar stayed open after sending');
    await quote.click();
    await messages(alice).locator('li.msg.found .msg-text').getByText('Did you read this?', { exact: true }).waitFor();
    await shot(alice, 'reply.png');
    log('bobby replied to "Did you read this?"; alice saw the quote and jumped to the original');

    // -- an image: thumbnail in the chat, full image on click --
    const catFile = join(files, 'cat.png');
    writeFileSync(catFile, png(640, 480, 2));
    await alice.page.getByLabel('Choose images to send').setInputFiles(catFile);
    for (const p of [alice, bob]) {
      const thumb = messages(p).getByRole('img', { name: 'Image cat.png' });
      await thumb.waitFor();
      await until(`${p.name}'s thumbnail to load`, () => thumb.evaluate((img) => img.complete && img.naturalWidth === 200));
    }
    await bob.page.getByRole('button', { name: 'Open image cat.png' }).click();
    const full = bob.page.getByRole('dialog', { name: 'cat.png' }).getByRole('img', { name: 'cat.png' });
    await until('the full image', () => full.evaluate((img) => img.complete && img.naturalWidth === 640));
    await shot(bob, 'image-viewer.png');
    await bob.page.getByRole('dialog', { name: 'cat.png' }).getByRole('button', { name: 'Close' }).click();
    log('image: 200 px thumbnail for both, 640 px original in the viewer');

    // -- a file: progress shown, the download matches --
    const notes = Buffer.alloc(3 * 1024 * 1024);
    for (let i = 0; i < notes.length; i += 1) notes[i] = (i * 7919 + (i >> 8)) & 255;
    const notesFile = join(files, 'notes.bin');
    writeFileSync(notesFile, notes);
    await alice.page.getByLabel('Choose files to send').setInputFiles(notesFile);
    await messages(bob).getByRole('link', { name: 'Download notes.bin' }).waitFor();
    const progress = await alice.page.evaluate(() => window.__progress.filter((p) => p.label === 'Uploading notes.bin').map((p) => p.now));
    if (!progress.length || Math.max(...progress) !== 100) fail(`no upload progress up to 100% was shown: ${progress}`);
    await until('the upload card to go', async () => (await alice.page.getByRole('progressbar').count()) === 0);
    const [download] = await Promise.all([
      bob.page.waitForEvent('download'),
      messages(bob).getByRole('link', { name: 'Download notes.bin' }).click(),
    ]);
    const got = readFileSync(await download.path());
    if (download.suggestedFilename() !== 'notes.bin' || sha256(got) !== sha256(notes)) fail('the downloaded file differs');
    log(`file: progress ${progress.join(',')}%, download matches (${got.length} bytes)`);

    // -- a queued upload can be cancelled and is never sent --
    // Uploads go one at a time: while the server makes the thumbnail of a large photo, the
    // next file waits in the queue, where cancelling it means it is never sent.
    const a = join(files, 'big.png');
    const b = join(files, 'second.bin');
    writeFileSync(a, png(4000, 3000, 5));
    writeFileSync(b, Buffer.from('never sent'));
    await alice.page.getByLabel('Choose files to send').setInputFiles([a, b]);
    await alice.page.getByText('Sent; the server is storing it…').waitFor();
    await alice.page.getByRole('button', { name: 'Cancel upload of second.bin' }).click();
    await alice.page.getByText('Upload cancelled.').waitFor();
    await messages(bob).getByRole('img', { name: 'Image big.png' }).waitFor();
    await send(alice, 'after the cancelled upload');
    await messages(bob).getByText('after the cancelled upload').waitFor();
    if (await messages(bob).getByRole('link', { name: 'Download second.bin' }).count()) fail('a cancelled upload was delivered');
    log('a cancelled upload was never delivered');

    // -- a voice message recorded from Chromium's fake microphone --
    await alice.page.getByRole('button', { name: 'Record a voice message' }).click();
    await alice.page.locator('.recording-clock').filter({ hasText: '0:01' }).waitFor();
    await alice.page.getByRole('button', { name: 'Send recording' }).click();
    for (const p of [alice, bob]) {
      const audio = messages(p).getByLabel('Voice message from alice');
      await audio.waitFor();
      await until(`${p.name}'s voice message to load`, () => audio.evaluate((el) => el.readyState >= 1 && el.duration > 0.5));
    }
    log('voice message recorded, sent and playable for both');
    await shot(alice, 'chat-desktop.png');

    // -- members with their online state, group settings --
    await alice.page.getByRole('button', { name: 'Members', exact: true }).click();
    await alice.page.getByRole('list', { name: 'Online members' }).getByRole('button', { name: 'bobby, in the chat now' }).waitFor();
    await shot(alice, 'members.png');
    await alice.page.getByRole('dialog', { name: 'Members' }).getByRole('button', { name: 'Close' }).click();

    // -- the phone: join from Discover, chat both ways, image, file, live badge --
    await nav(carol, 'Discover');
    await carol.page.getByRole('heading', { name: 'Rustaceans' }).waitFor();
    await shot(carol, 'mobile-discover.png');
    await carol.page.getByRole('button', { name: 'Join Rustaceans' }).click();
    await carol.page.getByRole('log', { name: 'Messages' }).waitFor();
    await messages(carol).getByText('Hello Bob!').waitFor();
    await send(carol, 'Hi from my phone');
    await messages(alice).getByText('Hi from my phone').waitFor();
    await send(alice, 'Nice to see you, carol');
    await messages(carol).getByText('Nice to see you, carol').waitFor();
    const dog = join(files, 'dog.png');
    writeFileSync(dog, png(300, 500, 4));
    await carol.page.getByLabel('Choose images to send').setInputFiles(dog);
    await messages(alice).getByRole('img', { name: 'Image dog.png' }).waitFor();
    await until('carol\'s thumbnail', () => messages(carol).getByRole('img', { name: 'Image dog.png' }).evaluate((img) => img.complete && img.naturalHeight === 200));
    const memo = join(files, 'memo.txt');
    writeFileSync(memo, 'a memo from the phone\n');
    await carol.page.getByLabel('Choose files to send').setInputFiles(memo);
    await messages(bob).getByRole('link', { name: 'Download memo.txt' }).waitFor();
    await shot(carol, 'mobile-chat.png');
    await carol.page.getByRole('link', { name: 'Back to chats' }).first().click();
    await chatRow(carol, 'Rustaceans').waitFor();
    await send(alice, 'Carol, are you there?');
    await unread(carol, 'Rustaceans', 1);
    await shot(carol, 'mobile-chats.png');
    log('the phone joined, chatted both ways, sent an image and a file, and saw its badge go live');

    // -- a private chat --
    await alice.page.getByRole('button', { name: 'Members', exact: true }).click();
    await alice.page.getByRole('button', { name: /^bobby, / }).click();
    await alice.page.getByRole('button', { name: 'Message bobby' }).click();
    await alice.page.getByRole('button', { name: 'bobby: person options' }).waitFor();
    await until('alice online in the private chat', async () => /In the chat|Private chat/.test(await alice.page.locator('.chat-status').textContent()));
    await chatRow(bob, 'alice').waitFor();
    const before = Number(/(\d+) unread$/.exec(await chatRow(bob, 'alice').getAttribute('aria-label'))?.[1] ?? 0);
    await send(alice, 'just between us');
    await unread(bob, 'alice', before + 1);
    log('private chat: bobby sees it with an unread badge');

    // -- reconnect: the server restarts while bobby is offline; nothing missed, nothing twice --
    await openChat(bob, 'Rustaceans');
    await openChat(alice, 'Rustaceans');
    // Bobby's reconnect must resume: its `online` names the last seq it has (`after`).
    const resumes = [];
    bob.page.on('websocket', (ws) => ws.on('framesent', (frame) => {
      try {
        const m = JSON.parse(frame.payload);
        if (m.msgType === 'online' && Number.isInteger(m.after)) resumes.push(m.after);
      } catch {
        // binary upload frames are not JSON
      }
    }));
    outage = true;
    await bob.context.setOffline(true);
    await server.stop();
    await until('alice to notice the restart', async () => /connecting/i.test(await alice.page.locator('.chat-status').textContent()));
    await server.start();
    await until('alice to reconnect', async () => /here now/.test(await alice.page.locator('.chat-status').textContent()), 30000);
    await send(alice, 'sent while you were away');
    await bob.context.setOffline(false);
    await messages(bob).getByText('sent while you were away').waitFor({ timeout: 30000 });
    await until('bobby\'s chat to be online again', async () => /here now/.test(await bob.page.locator('.chat-status').textContent()));
    outage = false;
    if (resumes.length === 0 || resumes.some((after) => after < 1)) fail(`bobby reconnected without resuming: ${JSON.stringify(resumes)}`);
    for (const p of [alice, bob]) {
      for (const text of ['Hello Bob!', 'Welcome to the group.', 'Hi from my phone', 'sent while you were away']) {
        const n = await count(p, text);
        if (n !== 1) fail(`${p.name} shows "${text}" ${n} times after reconnecting`);
      }
    }
    log(`after a server restart both see every message exactly once (bobby resumed after seq ${resumes.join(', ')})`);

    // -- history paging: load older --
    for (let i = 1; i <= 30; i += 1) await send(alice, `filler ${i}`);
    await carol.page.reload();
    await openChat(carol, 'Rustaceans');
    await messages(carol).getByText('filler 30').waitFor();
    if (await count(carol, 'Hello Bob!')) fail('the first page should not reach the oldest messages');
    await carol.page.getByRole('button', { name: 'Load older messages' }).click();
    await messages(carol).getByText('Hello Bob!').waitFor();
    if ((await count(carol, 'filler 1')) !== 1 || (await count(carol, 'filler 30')) !== 1) fail('load older repeated messages');
    log('load older fetched the earlier messages once');

    // -- change password, then the discover and profile pages for the README --
    await nav(bob, 'Discover');
    await bob.page.getByRole('link', { name: 'Change password' }).click();
    await bob.page.getByLabel('Current password').fill('secret2');
    await bob.page.getByLabel('New password', { exact: true }).fill('secret22');
    await bob.page.getByLabel('Repeat new password').fill('secret22');
    await bob.page.getByRole('button', { name: 'Change password' }).click();
    await bob.page.getByText('Password changed.').waitFor();
    // The token this device holds stays valid: no new sign-in, still signed in after a reload.
    await bob.page.reload();
    await bob.page.getByRole('link', { name: 'Your profile (bobby)' }).waitFor();
    await bob.page.getByRole('button', { name: 'Log out' }).click();
    await bob.page.getByLabel('Email').fill('bob@example.com');
    await bob.page.getByLabel('Password').fill('secret22');
    await bob.page.getByRole('button', { name: 'Sign in' }).click();
    await bob.page.getByRole('link', { name: 'Your profile (bobby)' }).waitFor();
    log('bobby changed his password, stayed signed in, and signed in again with the new one');
    await alice.page.getByRole('link', { name: 'Your profile (alice)' }).click();
    await alice.page.getByRole('button', { name: 'Save profile' }).waitFor();
    await shot(alice, 'profile.png');
    await alice.page.getByRole('link', { name: 'New group' }).click();
    await alice.page.getByLabel('Group name').waitFor();
    await shot(alice, 'new-group.png');

    // -- sessions: dave on a PC, a phone and a laptop --
    const UA = {
      pc: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36',
      phone: 'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36',
      laptop: 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0',
    };
    const dave = { email: 'dave@example.com', nickname: 'dave', password: 'secret4' };
    const pc = await person(browser, 'dave-pc', { width: 1280, height: 800 }, UA.pc);
    const phone = await person(browser, 'dave-phone', { width: 375, height: 812 }, UA.phone);
    const laptop = await person(browser, 'dave-laptop', { width: 1280, height: 800 }, UA.laptop);
    const pcSockets = [];
    pc.page.on('websocket', (ws) => pcSockets.push({ at: Date.now(), url: ws.url() }));
    // The PC joins the group and keeps it open: a live /ws-chat and /ws-push to be closed.
    await register(pc, url, dave);
    await pc.page.getByRole('button', { name: 'Join Rustaceans' }).click();
    await until('dave\'s PC online in Rustaceans', async () => /here now/.test(await pc.page.locator('.chat-status').textContent()));
    await signIn(phone, url, dave);
    let list = await sessionsPage(phone);
    let rows = await devices(phone, list, 2);
    const mine = await rows.filter({ hasText: 'This device' }).allTextContents();
    if (mine.length !== 1 || !mine[0].includes('Chrome on Android')) fail(`the phone's own row: ${JSON.stringify(mine)}`);
    const other = rows.filter({ hasNotText: 'This device' });
    if (!(await other.textContent()).includes('Chrome on Windows')) fail(`the PC's row: ${await other.textContent()}`);
    if ((await list.getByTitle(UA.pc).count()) === 0) fail('the full User-Agent is not in a tooltip');
    await shot(phone, 'mobile-sessions.png');
    // Keyboard: the row's button, then the confirmation.
    await list.getByRole('button', { name: 'Sign out Chrome on Windows' }).press('Enter');
    const confirm = phone.page.getByRole('dialog', { name: 'Sign out this device?' });
    await confirm.getByRole('button', { name: 'Sign out', exact: true }).click();
    const endedAt = Date.now();
    // The PC lands on the login page by itself, within a few seconds, with a clear message.
    await pc.page.getByRole('heading', { name: 'Welcome back' }).waitFor({ timeout: 5000 });
    await pc.page.getByRole('alert').filter({ hasText: 'You were signed out on this device.' }).waitFor({ timeout: 5000 });
    if (await auth(pc)) fail('the signed-out PC still keeps a token');
    await phone.page.getByText('Chrome on Windows was signed out.').waitFor();
    rows = await devices(phone, list, 1);
    if (!(await rows.textContent()).includes('This device')) fail('the phone\'s list after signing the PC out');
    await phone.page.getByText('Only this device is signed in.').waitFor();
    log('the phone listed 2 devices and signed the PC out; the PC landed on the login page');
    // The phone is still signed in: it chats, and alice receives it.
    await openChat(alice, 'Rustaceans');
    await openChat(phone, 'Rustaceans');
    await send(phone, 'dave is still here on the phone');
    await messages(alice).getByText('dave is still here on the phone').waitFor();
    log('the phone still sends messages that alice receives');

    // A third device: a logout on the phone ends only the phone's login.
    await signIn(laptop, url, dave);
    list = await sessionsPage(laptop);
    rows = await devices(laptop, list, 2);
    await list.getByRole('button', { name: 'Sign out Chrome on Android' }).waitFor();
    await laptop.page.getByRole('button', { name: 'Sign out all other devices' }).waitFor();
    await shot(laptop, 'sessions.png');
    await phone.page.getByRole('link', { name: 'Back to chats' }).first().click();
    await phone.page.getByRole('button', { name: 'Log out' }).click();
    await phone.page.getByRole('heading', { name: 'Welcome back' }).waitFor();
    if (await auth(phone)) fail('the phone kept its token after logging out');
    await laptop.page.reload();
    list = laptop.page.getByRole('list', { name: 'Signed-in devices' });
    rows = await devices(laptop, list, 1);
    if (!/Firefox on Linux\s*This device/.test(await rows.textContent())) fail(`the laptop's list: ${await rows.textContent()}`);
    await laptop.page.getByRole('link', { name: 'Your profile (dave)' }).waitFor();
    log('logging out on the phone left the laptop signed in');

    // A password change on the laptop signs the phone out, and keeps the laptop signed in.
    await signIn(phone, url, dave);
    await laptop.page.getByRole('link', { name: 'Change password' }).click();
    await laptop.page.getByLabel('Current password').fill('secret4');
    await laptop.page.getByLabel('New password', { exact: true }).fill('secret44');
    await laptop.page.getByLabel('Repeat new password').fill('secret44');
    await laptop.page.getByRole('button', { name: 'Change password' }).click();
    await laptop.page.getByText('Password changed. Your other devices were signed out').waitFor();
    await phone.page.getByRole('heading', { name: 'Welcome back' }).waitFor({ timeout: 5000 });
    await phone.page.getByRole('alert').filter({ hasText: 'You were signed out on this device.' }).waitFor({ timeout: 5000 });
    list = await sessionsPage(laptop);
    await devices(laptop, list, 1);
    log('a password change on the laptop signed the phone out and kept the laptop');
    // The PC signed out on its sockets' close ("session ended"), without trying them again.
    const late = pcSockets.filter((ws) => ws.at >= endedAt);
    if (late.length) fail(`the signed-out PC opened sockets again: ${JSON.stringify(late)}`);

    // -- far too fast: refusals make one toast, a refused text comes back to the box, and the
    // socket the server closes for it ("rate limit exceeded") reconnects without signing out --
    const reconnects = [];
    alice.page.on('websocket', (ws) => {
      if (ws.url().endsWith('/ws-chat')) reconnects.push(ws.url());
    });
    await alice.page.evaluate(() => {
      const box = document.querySelector('textarea[aria-label=Message]');
      for (let i = 1; i <= 150; i += 1) {
        box.value = `burst ${i}`;
        box.form.requestSubmit();
      }
    });
    await alice.page.locator('#toasts').getByText('Sending too fast (rate limit').first().waitFor();
    const composer = alice.page.getByLabel('Message', { exact: true });
    const draft = await until('a refused text back in the box', async () => {
      const value = await composer.inputValue();
      return /^burst \d+$/.test(value) && value;
    });
    await until('alice\'s chat to reconnect after the rate-limit close', () => reconnects.length > 0);
    await until('alice online again', async () => /here now/.test(await alice.page.locator('.chat-status').textContent()));
    if (!(await auth(alice))) fail('a rate limit signed alice out');
    await until(`the kept "${draft}" to be sent`, async () => {
      if ((await count(alice, draft)) > 0) return true;
      if (await composer.inputValue()) await composer.press('Enter');
      return false;
    });
    await messages(carol).getByText(draft, { exact: true }).waitFor();
    if ((await count(alice, draft)) !== 1) fail(`"${draft}" shown ${await count(alice, draft)} times`);
    if ((await alice.page.locator('#toasts .toast').filter({ hasText: 'Sending too fast' }).count()) !== 1) fail('more than one rate-limit toast');
    log(`a burst of 150 texts: one rate-limit toast, "${draft}" kept and sent after the socket reconnected`);

    await assertNoProblems();
    log('all browser checks passed');
  } catch (e) {
    for (const p of everyone) await p.page.screenshot({ path: join(SHOTS, `failure-${p.name}.png`) }).catch(() => {});
    throw e;
  } finally {
    await browser?.close();
    await server.stop();
    rmSync(data, { recursive: true, force: true });
    rmSync(files, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(`browser tests failed: ${e.stack || e}`);
    if (problems.length) console.error(problems.join('\n'));
    process.exit(1);
  },
);
