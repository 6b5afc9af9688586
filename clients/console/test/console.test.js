'use strict';
// The web console in a real headless Chromium against the real binary: sign in with the
// browser-signed exchange, create a secret, reveal and copy it, put a version, move a stage,
// delete and restore; make a read-only policy and an access key with it and check that its
// session shows no write action and cannot perform one; forged form posts (no token, a wrong
// token, a foreign origin, a real cross-site form) are refused; an expired session is refused.
// Screenshots of the main pages are saved to a directory the run prints.

const assert = require('node:assert/strict');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const { after, before, describe, test } = require('node:test');
const { chromium } = require('playwright-core');

const { SENTINEL, startCoffer } = require('../lib/coffer');

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const SHOTS = process.env.CONSOLE_SCREENSHOTS || fs.mkdtempSync(path.join(os.tmpdir(), 'coffer-console-screenshots-'));
fs.mkdirSync(SHOTS, { recursive: true });
console.log(`console screenshots: ${SHOTS}`);

let server;
let browser;
let admin; // the bootstrap key's browser context
let page;

async function shot(p, name) {
  await p.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
}

async function signIn(context, base, ak, sk) {
  const p = await context.newPage();
  p.on('dialog', (d) => d.accept());
  await p.goto(`${base}/console/`);
  assert.match(p.url(), /\/console\/sign-in/);
  await p.fill('#ak', ak);
  await p.fill('#sk', sk);
  await Promise.all([p.waitForURL(`${base}/console/`), p.press('#sk', 'Enter')]);
  return p;
}

/** The session's CSRF token, read from a page's sign-out form. */
async function csrfOf(p) {
  return p.getAttribute('form[action="/console/sign-out"] input[name=csrf]', 'value');
}

before(async () => {
  server = await startCoffer(['--console-session-secs', '600']);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  admin = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  await admin.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: server.base });
});

after(async () => {
  if (browser) await browser.close();
  if (server) await server.stop();
});

describe('the console', () => {
  const name = `app/db-${Date.now().toString(36)}`;
  const first = `${SENTINEL} first <b>&amp;</b>`;
  const second = `${SENTINEL} second`;

  test('pages carry a strict CSP and anti-framing headers; a page without a session goes to sign-in', async () => {
    for (const p of ['/console/sign-in', '/console/static/app.js']) {
      const res = await fetch(server.base + p);
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-security-policy'), /script-src 'self';/);
      assert.match(res.headers.get('content-security-policy'), /frame-ancestors 'none'/);
      assert.equal(res.headers.get('x-frame-options'), 'DENY');
      assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
      assert.equal(res.headers.get('referrer-policy'), 'same-origin');
    }
    const res = await fetch(`${server.base}/console/secrets`, { redirect: 'manual' });
    assert.equal(res.status, 303);
    assert.equal(res.headers.get('location'), '/console/sign-in');
  });

  test('a wrong secret is refused on the sign-in page', async () => {
    const ctx = await browser.newContext();
    const p = await ctx.newPage();
    await p.goto(`${server.base}/console/sign-in`);
    await p.fill('#ak', server.ak);
    await p.fill('#sk', 'not-the-secret');
    await p.click('button[type=submit]');
    await p.waitForSelector('#sign-in-error:not([hidden])');
    assert.match(await p.textContent('#sign-in-error'), /wrong/);
    await shot(p, '01-sign-in-error');
    await ctx.close();
  });

  test('signing in with the bootstrap key shows the overview', async () => {
    page = await signIn(admin, server.base, server.ak, server.sk);
    const cookies = await admin.cookies();
    const c = cookies.find((x) => x.name === 'coffer_console');
    assert.ok(c, 'a session cookie is set');
    assert.equal(c.httpOnly, true);
    assert.equal(c.sameSite, 'Strict');
    assert.equal(await page.textContent('#count-secrets'), '0');
    assert.match(await page.textContent('#chain'), /intact/);
    // Request rates of the last minute, from the server's own counters.
    assert.match(await page.textContent('#rates'), /requests\/s over the last/);
    assert.match(await page.textContent('#rate-denied'), /^\d+$/);
    await shot(page, '02-overview');
  });

  test('an empty secret list says so, then a secret is created', async () => {
    await page.goto(`${server.base}/console/secrets`);
    assert.match(await page.textContent('.empty'), /no secrets yet/);
    await page.click('#new-secret');
    await page.fill('#name', name);
    await page.fill('#value', first);
    await page.fill('#description', 'the app database');
    await page.fill('#tags', 'env=prod, team=core');
    await shot(page, '03-new-secret');
    await Promise.all([page.waitForURL(/\/console\/secret\?name=/), page.click('button[type=submit]:text("Create")')]);
    assert.equal(await page.textContent('#secret-name'), name);
    assert.match(await page.textContent('.notice'), /created/);
    // The value is hidden until asked for.
    assert.equal(await page.locator('#secret-value').count(), 0);
    assert.equal(await page.content().then((h) => h.includes(SENTINEL)), false);
    await shot(page, '04-secret-detail');
  });

  test('reveal shows the value as text, and copy puts it on the clipboard', async () => {
    await page.click('#reveal');
    await page.waitForSelector('#secret-value');
    assert.equal(await page.textContent('#secret-value'), first);
    await page.click('#copy-value');
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), first);
    await shot(page, '05-secret-revealed');
  });

  test('a new version becomes Current and the old one Previous', async () => {
    await page.click('#put-toggle');
    await page.fill('#new-value', second);
    await Promise.all([page.waitForURL(/done=version/), page.click('#put-version')]);
    const rows = page.locator('#versions tbody tr');
    assert.equal(await rows.count(), 2);
    assert.match(await rows.nth(0).locator('.stages').textContent(), /Current/);
    assert.match(await rows.nth(1).locator('.stages').textContent(), /Previous/);
    await page.click('#reveal');
    assert.equal(await page.textContent('#secret-value'), second);
  });

  test('moving Current back to the first version', async () => {
    await page.goto(`${server.base}/console/secret?name=${encodeURIComponent(name)}`);
    const old = page.locator('#versions tbody tr').nth(1);
    await old.locator('input[name=stage]').fill('Current');
    await Promise.all([page.waitForURL(/done=stage/), old.locator('button:text("Move stage here")').click()]);
    const rows = page.locator('#versions tbody tr');
    assert.match(await rows.nth(1).locator('.stages').textContent(), /Current/);
    assert.match(await rows.nth(0).locator('.stages').textContent(), /Previous/);
    await page.click('#reveal');
    assert.equal(await page.textContent('#secret-value'), first);
  });

  test('search by name, tag and state', async () => {
    await page.goto(`${server.base}/console/secrets?name=db-&match=contains&tag=env%3Dprod`);
    assert.equal(await page.locator('table.list tbody tr').count(), 1);
    await page.goto(`${server.base}/console/secrets?name=app%2Fdb-&tag=env%3Dprod`);
    assert.equal(await page.locator('table.list tbody tr').count(), 1, 'a name prefix');
    await page.goto(`${server.base}/console/secrets?name=db-`);
    assert.match(await page.textContent('.empty'), /No secret matches/);
    await shot(page, '06-secrets-list');
    await page.goto(`${server.base}/console/secrets?tag=env%3Dstaging`);
    assert.match(await page.textContent('.empty'), /No secret matches/);
    await page.goto(`${server.base}/console/secrets?state=deleting`);
    assert.match(await page.textContent('.empty'), /No secret matches/);
  });

  test('the list pages in name order by checked links; the audit log pages back with filters', async () => {
    // 120 secrets, posted from the page itself (its token, its origin).
    const csrf = await csrfOf(page);
    const made = await page.evaluate(async (token) => {
      let ok = 0;
      for (let i = 0; i < 120; i++) {
        const body = new URLSearchParams({ csrf: token, name: `bulk-${String((i * 37) % 120).padStart(3, '0')}`, value: 'v', tags: i % 2 ? 'half=odd' : 'half=even' });
        const r = await fetch('/console/secrets/create', { method: 'POST', body, redirect: 'manual' });
        if (r.type === 'opaqueredirect' || r.status === 303) ok++;
      }
      return ok;
    }, csrf);
    assert.equal(made, 120);
    const names = async () => page.locator('table.list tbody tr td[data-label=Name]').allTextContents();
    await page.goto(`${server.base}/console/secrets?name=bulk-`);
    let seen = await names();
    assert.equal(seen.length, 50);
    await shot(page, '06b-secrets-page-1');
    for (const expected of [50, 20]) {
      await Promise.all([page.waitForURL(/after=/), page.click('#next-page')]);
      const more = await names();
      assert.equal(more.length, expected);
      seen = seen.concat(more);
    }
    await shot(page, '06c-secrets-page-3');
    assert.equal(await page.locator('#next-page').count(), 0, 'the last page has no next link');
    const want = Array.from({ length: 120 }, (_, i) => `bulk-${String(i).padStart(3, '0')}`);
    assert.deepEqual(seen, want, 'every secret once, in name order');
    await page.click('#first-page');
    assert.equal((await names())[0], 'bulk-000');
    // A search by tag pages the same way.
    await page.goto(`${server.base}/console/secrets?name=bulk-&tag=half%3Dodd`);
    assert.equal((await names()).length, 50);
    await Promise.all([page.waitForURL(/after=/), page.click('#next-page')]);
    assert.equal((await names()).length, 10);
    // An edited page link is refused with a clear message.
    const next = new URL(page.url());
    next.searchParams.set('after', next.searchParams.get('after').replace(/^./, (c) => (c === 'A' ? 'B' : 'A')));
    const res = await page.goto(next.toString());
    assert.equal(res.status(), 400);
    assert.match(await page.textContent('main'), /page link is not valid/);
    await shot(page, '06d-forged-page-link');

    // The audit log over its whole length: 120 creates, 100 a page, newest first.
    await page.goto(`${server.base}/console/audit?action=CreateSecret&resource=bulk-&outcome=ok`);
    const rows = page.locator('#audit tbody tr');
    assert.equal(await rows.count(), 100);
    assert.match(await rows.first().textContent(), /bulk-0/);
    await shot(page, '07b-audit-filtered');
    await Promise.all([page.waitForURL(/before=/), page.click('#older-page')]);
    assert.equal(await rows.count(), 20);
    assert.equal(await page.locator('#older-page').count(), 0);
    await shot(page, '07c-audit-older');
    // A time range that excludes everything.
    await page.goto(`${server.base}/console/audit?action=CreateSecret&until=2001-01-01`);
    assert.match(await page.textContent('.empty'), /No entry matches/);
  });

  test('delete with a recovery window, then restore', async () => {
    await page.goto(`${server.base}/console/secret?name=${encodeURIComponent(name)}`);
    await page.fill('#days', '3');
    await Promise.all([page.waitForURL(/done=deleted/), page.click('#delete')]);
    assert.match(await page.textContent('#secret-state'), /Pending deletion/);
    assert.equal(await page.locator('#reveal').count(), 0);
    await page.goto(`${server.base}/console/secrets?state=deleting`);
    assert.equal(await page.locator('table.list tbody tr').count(), 1);
    await page.goto(`${server.base}/console/secret?name=${encodeURIComponent(name)}`);
    await Promise.all([page.waitForURL(/done=restored/), page.click('#restore')]);
    assert.match(await page.textContent('#secret-state'), /Enabled/);
  });

  test('the audit log shows the reveal as a value read, and the chain holds', async () => {
    await page.goto(`${server.base}/console/audit?action=secrets%3AGetValue`);
    const rows = page.locator('#audit tbody tr');
    assert.ok((await rows.count()) >= 3, 'each reveal is audited');
    const text = await rows.first().textContent();
    assert.match(text, /console/);
    assert.match(text, /RevealValue/);
    assert.match(text, new RegExp(name.replace('/', '\\/')));
    assert.match(await page.textContent('#chain'), /intact/);
    await shot(page, '07-audit');
    await page.goto(`${server.base}/console/keys`);
    assert.ok((await page.locator('#keys tbody tr').count()) >= 1);
    await shot(page, '08-keys');
    await page.goto(`${server.base}/console/databases`);
    assert.match(await page.textContent('.empty'), /No database instance/);
  });

  let readKey;
  let readSecret;

  test('a policy is checked before it is saved, and an access key is made with it', async () => {
    await page.goto(`${server.base}/console/policy`);
    await page.fill('#policy-name', 'read-only');
    await page.fill('#document', '{"Version": "1", "Statement": [');
    await page.click('#save-policy');
    await page.waitForSelector('#json-error:not([hidden])');
    assert.match(await page.textContent('#json-error'), /not valid JSON/);
    assert.match(page.url(), /\/console\/policy$/, 'nothing was sent');
    // Valid JSON that is no policy: refused by the server, with the text kept.
    await page.fill('#document', '{"Statement": "everything"}');
    await page.click('#save-policy');
    await page.waitForSelector('#policy-error');
    assert.match(await page.textContent('#policy-error'), /PolicyDocument/);
    const doc = JSON.stringify({
      Version: '1',
      Statement: [{ Effect: 'Allow', Action: ['secrets:List', 'secrets:Describe', 'secrets:GetValue'], Resource: ['*'] }],
    }, null, 2);
    await page.fill('#document', doc);
    await Promise.all([page.waitForURL(/done=saved/), page.click('#save-policy')]);
    await shot(page, '09-policy-editor');

    await page.goto(`${server.base}/console/access-keys`);
    await page.selectOption('#policy', 'read-only');
    await page.click('#create-access-key button[type=submit]');
    await page.waitForSelector('#created-key');
    readKey = (await page.textContent('#new-key-id')).trim();
    readSecret = (await page.textContent('#new-key-secret')).trim();
    assert.ok(readKey && readSecret);
    await shot(page, '10-access-key-created');
    // Shown once: the list does not show it again.
    await page.goto(`${server.base}/console/access-keys`);
    assert.equal((await page.content()).includes(readSecret), false);
    assert.match(await page.textContent('#access-keys'), /read-only/);
  });

  test('the read-only key sees no write action and cannot perform one', async () => {
    const ctx = await browser.newContext({ viewport: { width: 390, height: 844 } });
    const p = await signIn(ctx, server.base, readKey, readSecret);
    await p.goto(`${server.base}/console/secrets?name=app%2F`);
    assert.equal(await p.locator('table.list tbody tr').count(), 1);
    assert.equal(await p.locator('#new-secret').count(), 0);
    await shot(p, '11-phone-read-only-secrets');
    await p.goto(`${server.base}/console/secret?name=${encodeURIComponent(name)}`);
    for (const sel of ['#put-toggle', '#delete', '#restore', '.stage-form']) {
      assert.equal(await p.locator(sel).count(), 0, `${sel} is not offered`);
    }
    await p.click('#reveal');
    assert.equal(await p.textContent('#secret-value'), first);
    await shot(p, '12-phone-read-only-secret');
    // A write sent anyway, with a good token from the right origin, is denied by policy.
    const csrf = await csrfOf(p);
    const res = await ctx.request.post(`${server.base}/console/secret/put`, {
      form: { csrf, name, value: 'x' },
      headers: { origin: server.base },
      maxRedirects: 0,
    });
    assert.equal(res.status(), 403);
    assert.match(await res.text(), /AccessDenied|not allowed|access denied/i);
    // Operator pages are refused too.
    await p.goto(`${server.base}/console/audit`);
    assert.match(await p.textContent('#error-message'), /access denied/i);
    await ctx.close();
  });

  test('forged form posts are refused: no token, a wrong token, a foreign origin', async () => {
    await page.goto(`${server.base}/console/secrets`);
    const csrf = await csrfOf(page);
    const post = (form, origin) =>
      admin.request.post(`${server.base}/console/secret/delete`, {
        form,
        headers: origin ? { origin } : {},
        maxRedirects: 0,
      });
    for (const [form, origin, why] of [
      [{ name, days: '1' }, server.base, 'no token'],
      [{ name, days: '1', csrf: csrf.slice(1) + 'x' }, server.base, 'a wrong token'],
      [{ name, days: '1', csrf }, 'http://evil.example', 'a foreign origin'],
    ]) {
      const res = await post(form, origin);
      assert.equal(res.status(), 403, why);
      assert.match(await res.text(), /ForgedRequest/, why);
    }
    await page.goto(`${server.base}/console/secret?name=${encodeURIComponent(name)}`);
    assert.match(await page.textContent('#secret-state'), /Enabled/);
  });

  test('a form on another site cannot post with the session', async () => {
    // A page on another site (localhost is not 127.0.0.1) that submits a delete form to the
    // console at once: the SameSite=Strict cookie is not sent, and neither is a token.
    const evil = http.createServer((req, res) => {
      res.setHeader('content-type', 'text/html');
      res.end(`<form id=f method=post action="${server.base}/console/secret/delete">
        <input name=name value="${name}"><input name=days value=1></form>
        <script>document.getElementById('f').submit()</script>`);
    });
    await new Promise((r) => evil.listen(0, '127.0.0.1', r));
    const evilUrl = `http://localhost:${evil.address().port}/`;
    const p = await admin.newPage();
    await Promise.all([p.waitForURL(/\/console\//), p.goto(evilUrl)]);
    await p.waitForLoadState();
    assert.doesNotMatch(p.url(), /done=deleted/);
    await p.close();
    evil.close();
    await page.goto(`${server.base}/console/secret?name=${encodeURIComponent(name)}`);
    assert.match(await page.textContent('#secret-state'), /Enabled/);
  });

  test('signing out ends the session', async () => {
    await page.goto(`${server.base}/console/`);
    const cookie = (await admin.cookies()).find((x) => x.name === 'coffer_console').value;
    await Promise.all([page.waitForURL(/sign-in\?reason=signed-out/), page.click('.who button')]);
    assert.match(await page.textContent('.notice'), /signed out/);
    // The old cookie, sent again, names no session.
    const res = await fetch(`${server.base}/console/secrets`, {
      headers: { cookie: `coffer_console=${cookie}` },
      redirect: 'manual',
    });
    assert.equal(res.status, 303);
    assert.equal(res.headers.get('location'), '/console/sign-in?reason=ended');
  });
});

describe('session expiry', () => {
  test('an expired session is refused and the browser is sent to sign in again', async () => {
    const short = await startCoffer(['--console-session-secs', '2']);
    const ctx = await browser.newContext();
    try {
      const p = await signIn(ctx, short.base, short.ak, short.sk);
      await p.goto(`${short.base}/console/secrets`);
      assert.match(p.url(), /\/console\/secrets$/);
      const csrf = await csrfOf(p);
      const cookie = (await ctx.cookies()).find((x) => x.name === 'coffer_console').value;
      await new Promise((r) => setTimeout(r, 2500));
      await p.goto(`${short.base}/console/secrets`);
      assert.match(p.url(), /sign-in\?reason=expired/);
      assert.match(await p.textContent('.notice'), /expired/);
      await shot(p, '13-session-expired');
      // A form post on the expired session is refused as well.
      const res = await fetch(`${short.base}/console/secrets/create`, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          origin: short.base,
          cookie: `coffer_console=${cookie}`,
        },
        body: new URLSearchParams({ csrf, name: 'x', value: 'y' }),
        redirect: 'manual',
      });
      assert.equal(res.status, 401);
    } finally {
      await ctx.close();
      await short.stop();
    }
  });
});
