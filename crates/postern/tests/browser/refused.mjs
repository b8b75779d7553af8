// Opens an app through a real proxy as a signed-in user the app's rules refuse, in headless
// Chromium, and prints where the browser ended up: the e2e suite (tests/e2e, scenario
// refused_in_chromium) checks it is postern's "You don't have access" page, whatever the proxy.
// env: APP_URL (the app through the proxy), SESSION_COOKIE (name=value, for .example.com).
// Every *.example.com host resolves to 127.0.0.1.
import { chromium } from 'playwright-core';

const [name, value] = process.env.SESSION_COOKIE.split(/=(.*)/s);
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
         '--disable-component-update', '--disable-sync', '--host-resolver-rules=MAP *.example.com 127.0.0.1'],
});
try {
  const context = await browser.newContext();
  await context.addCookies([{ name, value, domain: '.example.com', path: '/' }]);
  const page = await context.newPage();
  const response = await page.goto(process.env.APP_URL);
  const heading = await page.textContent('h1').catch(() => '');
  console.log(JSON.stringify({
    url: page.url(),
    status: response ? response.status() : 0,
    heading: (heading || '').trim(),
    body: (await page.textContent('body')).replace(/\s+/g, ' ').trim().slice(0, 400),
  }));
} finally {
  await browser.close();
}
