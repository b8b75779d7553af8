// Walks postern's sign-in pages in a real headless Chromium: password, TOTP, the signed-in
// page, "no access", sign-out; on a desktop-sized and a phone-sized window. Every page is
// saved as a screenshot, and each must fit its window (no sideways scrolling).
// Then the OpenID Connect sign-in: postern's provider button, the provider's own login form
// (a real oidc-provider), and back to postern signed in as the provider's user.
// env: POSTERN_URL, POSTERN_USER, POSTERN_PASSWORD, POSTERN_TOTP_SECRET, ARTIFACTS (a folder),
//      OIDC_USER (an account of the provider).
import { createHmac } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { chromium } from 'playwright-core';

const base = process.env.POSTERN_URL;
const user = process.env.POSTERN_USER;
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
// Each window signs in with its own time step: a step works once per user.
let step = Math.floor(Date.now() / 1000 / 30);

try {
  for (const size of sizes) {
    const context = await browser.newContext({ viewport: size.viewport, isMobile: size.isMobile, hasTouch: size.hasTouch });
    const page = await context.newPage();
    const shot = async (label) => {
      const fits = await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);
      check(fits, `${label} on ${size.name} scrolls sideways`);
      const title = await page.title();
      check(title.length > 0, `${label} has a title`);
      await page.screenshot({ path: `${artifacts}/${size.name}-${label}.png`, fullPage: true });
      console.log(`${size.name} ${label}: ${title}`);
    };

    await page.goto(`${base}/login`);
    await shot('01-login');

    await page.fill('#username', user);
    await page.fill('#password', 'not the password');
    await page.click('button[type=submit]');
    await page.waitForSelector('#login-error');
    await shot('02-login-error');

    await page.fill('#username', user);
    await page.fill('#password', password);
    await page.click('button[type=submit]');
    await page.waitForURL(/\/totp$/);
    check((await page.getAttribute('#code', 'autocomplete')) === 'one-time-code', 'the code field asks for a one-time code');
    await shot('03-totp');

    await page.fill('#code', '000000');
    await page.click('button[type=submit]');
    await page.waitForSelector('#totp-error');
    await shot('04-totp-error');

    await page.fill('#code', totp(step));
    step += 1;
    await page.click('button[type=submit]');
    await page.waitForSelector('text=You are signed in');
    check((await page.textContent('body')).includes(user), 'the signed-in page names the user');
    await shot('05-signed-in');

    await page.goto(`${base}/unauthorized?reason=second_factor&app=Vault`);
    check((await page.textContent('#reason')).includes('second factor'), 'the no-access page says why');
    await shot('06-unauthorized');

    await page.goto(`${base}/`);
    await page.click('button[type=submit]');
    await page.waitForURL(/\/login/);
    await shot('07-signed-out');

    // OpenID Connect: the provider's button, its login form, and back.
    await page.goto(`${base}/login`);
    await page.click('a.provider');
    await page.waitForSelector('input[name=login]');
    await shot('08-provider-login');
    await page.fill('input[name=login]', process.env.OIDC_USER);
    await page.fill('input[name=password]', 'any');
    await page.click('button[type=submit]');
    await page.waitForSelector('text=You are signed in');
    check(page.url().startsWith(base), `back on postern after the provider (${page.url()})`);
    check((await page.textContent('body')).includes(process.env.OIDC_USER), 'signed in as the provider user');
    await shot('09-signed-in-oidc');
    await context.close();
  }
} finally {
  await browser.close();
}
console.log('walk: ok');
