// The OpenID Provider's consent walk in headless Chromium: from a client's authorization
// request to postern's login form, then its consent page (audited by axe-core for WCAG 2.1
// AA and screenshotted), "Allow", and back at the client with a code.
// env: AUTHORIZE_URL, USER, PASSWORD, REDIRECT_PREFIX (the client's redirect URI), ARTIFACTS.
// Every *.example.com host resolves to 127.0.0.1; the client's redirect is answered here.
import { readFileSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';

const env = process.env;
const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
         '--disable-component-update', '--disable-sync', '--host-resolver-rules=MAP *.example.com 127.0.0.1'],
});
try {
  // bypassCSP: axe-core is injected as a script, which postern's CSP forbids (test only).
  const page = await (await browser.newContext({ bypassCSP: true })).newPage();
  let landed = null;
  await page.route(`${env.REDIRECT_PREFIX}**`, (route) => {
    landed = route.request().url();
    route.fulfill({ status: 200, contentType: 'text/plain', body: 'the client' });
  });
  await page.goto(env.AUTHORIZE_URL);
  await page.fill('#username', env.USER);
  await page.fill('#password', env.PASSWORD);
  await page.click('button[type=submit]');
  await page.waitForSelector('button[value=allow]');
  mkdirSync(env.ARTIFACTS, { recursive: true });
  await page.screenshot({ path: `${env.ARTIFACTS}/oidc-consent.png`, fullPage: true });
  await page.addScriptTag({ content: axeSource });
  const audit = await page.evaluate(() => window.axe.run(document, {
    runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] },
  }));
  const consentText = (await page.textContent('main, body')).replace(/\s+/g, ' ').trim();
  await page.click('button[value=allow]');
  await page.waitForURL(`${env.REDIRECT_PREFIX}**`);
  console.log(JSON.stringify({
    landed,
    consent: consentText.slice(0, 400),
    violations: audit.violations.map((v) => `${v.id}: ${v.help}`),
  }));
} finally {
  await browser.close();
}
