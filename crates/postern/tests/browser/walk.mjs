// Walks postern's sign-in pages in a real headless Chromium: password (and a wrong one), TOTP
// (and a wrong code), the signed-in page, sign-out, "no access" and its "Switch account"; in
// light and dark colour schemes, on a desktop-sized and a phone-sized window. Every postern
// page is saved as a screenshot, must fit its window (no sideways scrolling) and must pass
// axe-core's WCAG 2.1 A and AA rules with no violation.
// Then the OpenID Connect sign-in: postern's provider button, the provider's own login form
// (a real oidc-provider, not audited: not postern's page), and back to postern signed in.
// env: POSTERN_URL, POSTERN_USERS (two TOTP users, comma-separated), POSTERN_PASSWORD,
//      POSTERN_TOTP_SECRET, ARTIFACTS (a folder), OIDC_USER (an account of the provider).
import { mkdirSync } from 'node:fs';
import { check, launch, schemes, sizes, openWindow, totp as codeFor } from './shared.mjs';

const base = process.env.POSTERN_URL;
const users = process.env.POSTERN_USERS.split(',');
const password = process.env.POSTERN_PASSWORD;
const secret = process.env.POSTERN_TOTP_SECRET;
const artifacts = process.env.ARTIFACTS;
mkdirSync(artifacts, { recursive: true });

/** The users' code for time step `step`. */
const totp = (step) => codeFor(secret, step);

const browser = await launch();

// A TOTP time step works once per user: each of the two users signs in once per step, and
// the windows take the steps in turn (the server accepts the current one and its neighbour).
const firstStep = Math.floor(Date.now() / 1000 / 30);

try {
  let walk = 0;
  for (const size of sizes) {
    for (const scheme of schemes) {
      const user = users[walk % users.length];
      const step = firstStep + Math.floor(walk / users.length);
      walk += 1;
      const { context, page, where, shot } = await openWindow(browser, size, scheme, artifacts);

      await page.goto(`${base}/login`);
      await shot('01-login');

      await page.fill('#username', user);
      await page.fill('#password', 'not the password');
      await page.click('button[type=submit]');
      await page.waitForSelector('#login-error');
      check(await page.evaluate(() => document.activeElement && document.activeElement.id) === 'password',
        'after a wrong password the focus is on the password field');
      await shot('02-login-error');

      await page.fill('#username', user);
      await page.fill('#password', password);
      await page.click('button[type=submit]');
      await page.waitForURL(/\/totp$/);
      check((await page.getAttribute('#code', 'autocomplete')) === 'one-time-code', 'the code field asks for a one-time code');
      check((await page.getAttribute('#code', 'inputmode')) !== 'numeric', 'recovery codes have letters: no numeric keypad');
      await shot('03-totp');

      await page.fill('#code', '000000');
      await page.click('button[type=submit]');
      await page.waitForSelector('#totp-error');
      await shot('04-totp-error');

      await page.fill('#code', totp(step));
      await page.click('button[type=submit]');
      await page.waitForSelector('text=You are signed in');
      check((await page.textContent('body')).includes(user), 'the signed-in page names the user');
      await shot('05-signed-in');

      await page.goto(`${base}/logout`);
      await page.waitForSelector('text=Sign out');
      await shot('06-logout');

      // "Switch account" signs out at once and keeps the way back to the app.
      const app = `${base}/api/status?from=vault`;
      await page.goto(`${base}/unauthorized?reason=second_factor&app=Vault&redirect_uri=${encodeURIComponent(app)}`);
      check((await page.textContent('#reason')).includes('second factor'), 'the no-access page says why');
      await shot('07-unauthorized');
      await page.click('#switch-account button[type=submit]');
      await page.waitForURL(/\/login\?redirect_uri=/);
      check((await page.inputValue('input[name=redirect_uri]')) === app, 'the next sign-in returns to the app');
      await shot('08-signed-out');

      // OpenID Connect: the provider's button, its login form, and back.
      await page.goto(`${base}/login`);
      await page.click('a.provider');
      await page.waitForSelector('input[name=login]');
      await shot('09-provider-login', { axe: false });
      await page.fill('input[name=login]', process.env.OIDC_USER);
      await page.fill('input[name=password]', 'any');
      await page.click('button[type=submit]');
      await page.waitForSelector('text=You are signed in');
      check(page.url().startsWith(base), `back on postern after the provider (${page.url()})`);
      check((await page.textContent('body')).includes(process.env.OIDC_USER), 'signed in as the provider user');
      await shot('10-signed-in-oidc');
      await context.close();
    }
  }
} finally {
  await browser.close();
}
console.log('walk: ok');
