// Walks postern's sign-in pages in a real headless Chromium: password (and a wrong one), TOTP
// (and a wrong code), the signed-in page, sign-out, "no access" and its "Switch account"; in
// light and dark colour schemes, on a desktop-sized and a phone-sized window. Every postern
// page is saved as a screenshot, must fit its window (no sideways scrolling) and must pass
// axe-core's WCAG 2.1 A and AA rules with no violation.
// Then the OpenID Connect sign-in: postern's provider button, the provider's own login form
// (a real oidc-provider, not audited: not postern's page), and back to postern signed in.
// env: POSTERN_URL, POSTERN_USERS (two TOTP users, comma-separated), POSTERN_PASSWORD,
//      POSTERN_TOTP_SECRET, ARTIFACTS (a folder), OIDC_USER (an account of the provider).
import { createHmac } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';

const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const base = process.env.POSTERN_URL;
const users = process.env.POSTERN_USERS.split(',');
const password = process.env.POSTERN_PASSWORD;
const secret = process.env.POSTERN_TOTP_SECRET;
const artifacts = process.env.ARTIFACTS;
mkdirSync(artifacts, { recursive: true });

/** RFC 6238: SHA-1, 6 digits, 30 s steps; `step` is the time step to make the code for. */
function totp(step) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const ch of secret.replace(/=+$/, '')) bits += alphabet.indexOf(ch).toString(2).padStart(5, '0');
  const key = Buffer.from(bits.match(/.{8}/g).map((byte) => parseInt(byte, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const mac = createHmac('sha1', key).update(counter).digest();
  const offset = mac[mac.length - 1] & 15;
  const value = (mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000;
  return String(value).padStart(6, '0');
}

function check(condition, what) {
  if (!condition) throw new Error(`check failed: ${what}`);
}

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
         '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});

const sizes = [
  { name: 'desktop', viewport: { width: 1280, height: 800 } },
  { name: 'phone', viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true },
];
const schemes = ['light', 'dark'];
// A TOTP time step works once per user: each of the two users signs in once per step, and
// the windows take the steps in turn (the server accepts the current one and its neighbour).
const firstStep = Math.floor(Date.now() / 1000 / 30);

/** axe-core in the page (injected: postern's CSP forbids inline scripts, so the context
 *  bypasses CSP for the test only); every WCAG 2.0/2.1 A and AA violation fails the walk. */
async function audit(page, label) {
  await page.addScriptTag({ content: axeSource });
  const result = await page.evaluate(() => window.axe.run(document, {
    runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] },
  }));
  const found = result.violations.map((v) =>
    `${v.id} (${v.impact}): ${v.help}\n    ${v.nodes.map((n) => `${n.target.join(' ')}: ${n.failureSummary}`).join('\n    ')}`);
  check(found.length === 0, `${label}: WCAG 2.1 AA violations:\n  ${found.join('\n  ')}`);
}

/** WCAG 1.4.11: the border of every text field against the card behind it, at least 3:1
 *  (axe checks text contrast only). */
async function checkControlBorders(page, label) {
  const ratios = await page.evaluate(() => {
    const luminance = (css) => {
      const [r, g, b] = css.match(/[\d.]+/g).slice(0, 3).map((v) => {
        const c = Number(v) / 255;
        return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
      });
      return 0.2126 * r + 0.7152 * g + 0.0722 * b;
    };
    const card = getComputedStyle(document.querySelector('.card')).backgroundColor;
    return [...document.querySelectorAll('input[type=text], input[type=password]')].map((input) => {
      const [a, b] = [luminance(getComputedStyle(input).borderTopColor), luminance(card)];
      return { id: input.id, ratio: (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05) };
    });
  });
  for (const { id, ratio } of ratios) {
    check(ratio >= 3, `${label}: the border of #${id} has ${ratio.toFixed(2)}:1 against the card, under 3:1`);
  }
}

try {
  let walk = 0;
  for (const size of sizes) {
    for (const scheme of schemes) {
      const user = users[walk % users.length];
      const step = firstStep + Math.floor(walk / users.length);
      walk += 1;
      const where = `${size.name}-${scheme}`;
      const context = await browser.newContext({
        viewport: size.viewport, isMobile: size.isMobile, hasTouch: size.hasTouch,
        colorScheme: scheme, bypassCSP: true,
      });
      const page = await context.newPage();
      const shot = async (label, { axe = true } = {}) => {
        const fits = await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);
        check(fits, `${label} on ${where} scrolls sideways`);
        const title = await page.title();
        check(title.length > 0, `${label} has a title`);
        if (axe) {
          // The page behind the card follows the scheme too (it used to stay light).
          const dark = await page.evaluate(() => {
            const [r, g, b] = getComputedStyle(document.body).backgroundColor.match(/\d+/g).map(Number);
            return (r + g + b) / 3 < 128;
          });
          check(dark === (scheme === 'dark'), `${label} on ${where}: the page background is not ${scheme}`);
          await audit(page, `${label} on ${where}`);
          await checkControlBorders(page, `${label} on ${where}`);
        }
        await page.screenshot({ path: `${artifacts}/${where}-${label}.png`, fullPage: true });
        console.log(`${where} ${label}: ${title}`);
      };

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
