// A sibling subdomain's login CSRF, in headless Chromium: a page on evil.example.com plants a
// pre-session cookie for all of example.com, and posts postern's login form (on
// auth.example.com) with the attacker's own credentials and the CSRF token of the planted
// cookie, which the attacker read from postern's login page beforehand. Were it accepted, the
// victim's browser would be signed in as the attacker. Then the same browser signs in from
// postern's own page. Prints one JSON line: where each ended up and the session cookies held.
// Both sites are HTTPS: browsers send `Sec-Fetch-Site` to secure origins only, and a form
// from http:// to https:// is cross-site, which keeps the planted cookie (SameSite=Lax) home.
// env: POSTERN_URL (https://auth.example.com:PORT), POSTERN_DIRECT (the same at 127.0.0.1),
// USER, PASSWORD, SIBLING_CERT and SIBLING_KEY (PEM files for evil.example.com; the test's
// own CA, so certificate errors are ignored). Every *.example.com host resolves to 127.0.0.1.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import { chromium } from 'playwright-core';

const env = process.env;
// The attacker's pre-session cookie (22 base64url characters) and its login form's token.
const planted = 'plantedByTheSibling0_-';
process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0'; // the test CA's certificate, at 127.0.0.1
const page = await fetch(`${env.POSTERN_DIRECT}/login`, {
  headers: { cookie: `postern_csrf=${planted}`, accept: 'text/html' },
});
const token = (await page.text()).match(/name="csrf" value="([^"]+)"/)?.[1];
if (!token) throw new Error('no CSRF token on the login page');

const attack = `<!doctype html><title>sibling</title>
<script>document.cookie = "postern_csrf=${planted}; domain=example.com; path=/";</script>
<form id="f" method="post" action="${env.POSTERN_URL}/login">
<input name="username" value="${env.USER}"><input name="password" value="${env.PASSWORD}">
<input name="csrf" value="${token}"></form>
<script>document.getElementById('f').submit();</script>`;
const tls = { cert: readFileSync(env.SIBLING_CERT), key: readFileSync(env.SIBLING_KEY) };
const sibling = createServer(tls, (_, response) => {
  response.writeHead(200, { 'content-type': 'text/html' });
  response.end(attack);
});
await new Promise((resolve) => sibling.listen(0, '127.0.0.1', resolve));

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
         '--disable-component-update', '--disable-sync', '--host-resolver-rules=MAP *.example.com 127.0.0.1'],
});
const sessions = async (context) =>
  (await context.cookies()).filter((cookie) => cookie.name === 'postern_session').length;
try {
  const context = await browser.newContext({ ignoreHTTPSErrors: true });
  const tab = await context.newPage();
  await tab.goto(`https://evil.example.com:${sibling.address().port}/`);
  await tab.waitForURL((url) => url.toString().startsWith(env.POSTERN_URL));
  const heading = (await tab.textContent('h1').catch(() => '')) || '';
  const attacked = {
    url: tab.url(),
    heading: heading.trim(),
    body: (await tab.textContent('body')).replace(/\s+/g, ' ').trim().slice(0, 300),
    sessions: await sessions(context),
  };
  // The same browser, from postern's own login page: signed in. (Not when the attack
  // already signed it in: the login page would pass straight through.)
  let own = null;
  if (attacked.sessions === 0) {
    await tab.goto(`${env.POSTERN_URL}/login`);
    await tab.fill('#username', env.USER);
    await tab.fill('#password', env.PASSWORD);
    await tab.click('button[type=submit]');
    await tab.waitForLoadState();
    own = { url: tab.url(), sessions: await sessions(context) };
  }
  console.log(JSON.stringify({ attacked, own }));
} finally {
  await browser.close();
  sibling.close();
}
