// What the browser walks share: the browser, RFC 6238 codes, and the page checks (axe-core's
// WCAG 2.1 AA rules, field borders, no sideways scrolling, the colour scheme).
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';

const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

export function check(condition, what) {
  if (!condition) throw new Error(`check failed: ${what}`);
}

/** RFC 6238: SHA-1, 6 digits, 30 s steps; `step` is the time step to make the code for. */
export function totp(secret, step) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const ch of secret.replace(/[\s=]+/g, '')) bits += alphabet.indexOf(ch).toString(2).padStart(5, '0');
  const key = Buffer.from(bits.match(/.{8}/g).map((byte) => parseInt(byte, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const mac = createHmac('sha1', key).update(counter).digest();
  const offset = mac[mac.length - 1] & 15;
  const value = (mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000;
  return String(value).padStart(6, '0');
}

export function launch() {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
           '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

export const sizes = [
  { name: 'desktop', viewport: { width: 1280, height: 800 } },
  { name: 'phone', viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true },
];
export const schemes = ['light', 'dark'];

/** A window of `size` in `scheme` (its own cookies), with its page and a `shot` for it. The
 *  window bypasses the CSP, so that axe-core can be injected. */
export async function openWindow(browser, size, scheme, artifacts) {
  const where = `${size.name}-${scheme}`;
  const context = await browser.newContext({
    viewport: size.viewport, isMobile: size.isMobile, hasTouch: size.hasTouch,
    colorScheme: scheme, bypassCSP: true,
  });
  const page = await context.newPage();
  return { context, page, where, shot: shooter(page, { where, scheme, artifacts }) };
}

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

/** A function that checks the page and saves its screenshot as `<where>-<label>.png`: it must
 *  fit the window and have a title; with `axe` (the default, for postern's own pages) its
 *  background must follow `scheme`, and axe-core and the border check must pass. */
export function shooter(page, { where, scheme, artifacts }) {
  return async (label, { axe = true } = {}) => {
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
}
