// Walks the account page in a real headless Chromium, in light and dark colour schemes on a
// desktop-sized and a phone-sized window, as one user per window: sign in and come back to
// /account, set up TOTP (the secret read from the page, the code computed here, as an
// authenticator app would), see it take effect at the next sign-in, make recovery codes,
// turn TOTP off, and be asked for the password again in a session that is no recent sign-in. Every page is saved as a screenshot and passes the checks of shared.mjs
// (axe-core WCAG 2.1 AA, no sideways scrolling). The QR code is also shown once under the
// page's real Content-Security-Policy (the audited windows bypass it to inject axe-core).
// env: POSTERN_URL, POSTERN_USERS (four users without TOTP, comma-separated),
//      POSTERN_PASSWORD, ARTIFACTS (a folder).
import { mkdirSync } from 'node:fs';
import { check, launch, schemes, sizes, openWindow, totp } from './shared.mjs';

const base = process.env.POSTERN_URL;
const users = process.env.POSTERN_USERS.split(',');
const password = process.env.POSTERN_PASSWORD;
const artifacts = process.env.ARTIFACTS;
mkdirSync(artifacts, { recursive: true });

const stepNow = () => Math.floor(Date.now() / 1000 / 30);

async function signIn(page, user) {
  await page.fill('#username', user);
  await page.fill('#password', password);
  await page.click('form[action="/login"] button[type=submit]');
}

const browser = await launch();
try {
  let walk = 0;
  for (const size of sizes) {
    for (const scheme of schemes) {
      const user = users[walk];
      walk += 1;
      const { context, page, where, shot } = await openWindow(browser, size, scheme, artifacts);

      // Not signed in: to the login page, and back to the account page after it.
      await page.goto(`${base}/account`);
      await page.waitForURL(/\/login\?redirect_uri=%2Faccount$/);
      await signIn(page, user);
      await page.waitForURL(/\/account$/);
      check((await page.textContent('#profile-username')).trim() === user, 'the profile names the user');
      check((await page.textContent('#signed-in-with')).trim() === 'password', 'signed in with the password');
      check((await page.textContent('#totp-state')).startsWith('Off'), 'TOTP is off');
      await shot('11-account');

      // Set up: the secret and its QR code, until the first right code.
      await page.click('form[action="/account/totp-setup"] button');
      await page.waitForSelector('#totp-secret');
      const secret = (await page.textContent('#totp-secret')).replace(/\s+/g, '');
      check(/^[A-Z2-7]{32}$/.test(secret), `a 160-bit base32 secret (${secret})`);
      check(await page.evaluate(() => document.querySelector('#totp-qr').naturalWidth > 0), 'the QR code shows');
      await shot('12-account-totp-setup');
      if (walk === 1) {
        // The same page under the real CSP (no bypass): the QR code is a data: image it allows.
        const strict = await browser.newContext({ viewport: size.viewport });
        await strict.addCookies(await context.cookies());
        const plain = await strict.newPage();
        await plain.goto(`${base}/account`);
        check(await plain.evaluate(() => document.querySelector('#totp-qr').naturalWidth > 0),
          'the QR code shows under the Content-Security-Policy');
        await strict.close();
      }
      await page.fill('#code', '000000');
      await page.click('form[action="/account/totp-confirm"] button');
      await page.waitForSelector('#account-error');
      check((await page.textContent('#totp-secret')).replace(/\s+/g, '') === secret, 'the set-up waits on');
      const confirmStep = stepNow();
      await page.fill('#code', totp(secret, confirmStep));
      await page.click('form[action="/account/totp-confirm"] button');
      await page.waitForURL(/\/account\?done=totp-on/);
      check((await page.textContent('#account-notice')).includes('Two-step verification is on'), 'the page says TOTP is on');
      check((await page.textContent('#totp-state')).startsWith('On since'), 'TOTP is on');
      check(!(await page.isVisible('#totp-secret')), 'the secret is not shown again');
      await shot('13-account-totp-on');

      // New recovery codes, shown once.
      await page.click('form[action="/account/recovery-codes"] button');
      await page.waitForSelector('#new-codes');
      check((await page.locator('#new-codes li').count()) === 10, 'ten recovery codes');
      check((await page.textContent('#recovery-left')).startsWith('10 of 10 left'), 'ten left');
      await shot('14-account-recovery-codes');

      // In force: signing in again asks for a code (a later step than the confirming one).
      await page.goto(`${base}/logout`);
      await page.click('form[action="/logout"] button[type=submit]');
      await page.goto(`${base}/account`);
      await signIn(page, user);
      await page.waitForURL(/\/totp$/);
      await page.fill('#code', totp(secret, Math.max(confirmStep + 1, stepNow())));
      await page.click('form[action="/totp"] button[type=submit]');
      await page.waitForURL(/\/account$/);
      check((await page.textContent('#signed-in-with')).trim() === 'password and TOTP', 'signed in with TOTP');

      // Off again (no app of this user's needs two factors).
      await page.click('form[action="/account/totp-remove"] button');
      await page.waitForURL(/\/account\?done=totp-off/);
      check((await page.textContent('#totp-state')).startsWith('Off'), 'TOTP is off again');
      await shot('15-account-totp-off');

      // A session a one-time ticket started (here for a bearer token) is no sign-in of its
      // own: a change asks for the password again, then goes on.
      const json = { 'content-type': 'application/json' };
      const tokens = await (await fetch(`${base}/api/auth/login`, {
        method: 'POST', headers: json, body: JSON.stringify({ username: user, password }),
      })).json();
      const ticket = await (await fetch(`${base}/api/ws-token`, {
        headers: { authorization: `Bearer ${tokens.access_token}` },
      })).json();
      const redeemed = await fetch(`${base}/api/ticket/redeem`, {
        method: 'POST', headers: json, body: JSON.stringify({ token: ticket.token }),
      });
      const session = /postern_session=([^;]+)/.exec(redeemed.headers.get('set-cookie'))[1];
      await context.clearCookies();
      await context.addCookies([{ name: 'postern_session', value: session, url: base }]);
      await page.goto(`${base}/account`);
      await page.click('form[action="/account/totp-setup"] button');
      await page.waitForSelector('#reauth-password');
      await page.fill('#reauth-password', 'not the password');
      await page.click('form[action="/account/reauth"] button');
      await page.waitForSelector('#reauth-error');
      await shot('16-account-reauth');
      await page.fill('#reauth-password', password);
      await page.click('form[action="/account/reauth"] button');
      await page.waitForURL(/\/account\?done=reauth#two-step$/);
      check((await page.textContent('#account-notice')).includes('For the next 5 minutes'), 'the page says why');
      await page.click('form[action="/account/totp-setup"] button');
      await page.waitForSelector('#totp-secret');
      await context.close();
    }
  }
} finally {
  await browser.close();
}
console.log('account walk: ok');
