// Passkeys in a real headless Chromium with a virtual authenticator (Chrome DevTools Protocol
// WebAuthn domain: ctap2, internal transport, resident keys, user verification): add one,
// named, on the account page (postern's own script), allow an OpenID client, sign out, sign in
// with password + passkey, passwordless, with passkey autofill (conditional mediation), then
// on replica B (same Redis), where the account page shows its last use, renames it, revokes
// the client and removes the passkey. Screenshots of the account page and the passkey pages
// on a desktop and a phone window, in light and dark, each audited by axe-core (WCAG 2.1 AA).
// env: POSTERN_A, POSTERN_B (http://localhost:<port>), POSTERN_USER, POSTERN_PASSWORD,
//      CLIENT_REDIRECT (the OpenID client's redirect URI, answered here), ARTIFACTS.
import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';

const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const [a, b] = [process.env.POSTERN_A, process.env.POSTERN_B];
const user = process.env.POSTERN_USER;
const password = process.env.POSTERN_PASSWORD;
const artifacts = process.env.ARTIFACTS;
const clientRedirect = process.env.CLIENT_REDIRECT;
mkdirSync(artifacts, { recursive: true });

function check(condition, message) {
  if (!condition) {
    throw new Error(message);
  }
}

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
         '--disable-component-update', '--disable-sync'],
});

async function audit(page, label) {
  await page.addScriptTag({ content: axeSource });
  const result = await page.evaluate(() => window.axe.run(document, {
    runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] },
  }));
  const found = result.violations.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`);
  check(found.length === 0, `${label}: WCAG 2.1 AA violations:\n  ${found.join('\n  ')}`);
}

async function status(page, base) {
  return page.evaluate(async (url) => (await fetch(`${url}/api/status`)).json(), base);
}

async function signOut(page, base) {
  await page.goto(`${base}/logout`);
  await page.click('form[action="/logout"] button');
  await page.waitForURL(/\/login\?logged_out=1/);
}

async function passwordStep(page, base) {
  await page.goto(`${base}/login`);
  await page.fill('#username', user);
  await page.fill('#password', password);
  await page.click('#login-form button[type=submit]');
}

try {
  // bypassCSP only so that axe (an inline script) can run; postern's own script is a file.
  const context = await browser.newContext({ bypassCSP: true });
  // The login page asks for a passkey in the background (autofill), and the virtual
  // authenticator, always present, would answer it at once: the walk turns autofill on only
  // for its own step (a cookie the page's script cannot tell from a browser without it).
  await context.addInitScript(() => {
    const real = PublicKeyCredential.isConditionalMediationAvailable.bind(PublicKeyCredential);
    PublicKeyCredential.isConditionalMediationAvailable = async () =>
      document.cookie.includes('walk-autofill=on') && real();
  });
  const autofill = (on) => context.addCookies([{ name: 'walk-autofill', value: on ? 'on' : 'off', domain: 'localhost', path: '/' }]);
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2', transport: 'internal', hasResidentKey: true,
      hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true,
    },
  });

  // Register on the account page: signed in with the password, "Add a passkey" with a name.
  await passwordStep(page, a);
  await page.waitForURL(`${a}/`);
  await page.goto(`${a}/account`);
  check(await page.isVisible('#passkeys-none'), 'no passkey yet');
  await page.fill('#passkey-new-name', 'Walk laptop');
  await page.click('#passkey-add button[type=submit]');
  await page.waitForURL(/\/account\?done=passkey-added#passkeys$/);
  check((await page.textContent('#account-notice')).includes('Your passkey is added'), 'the page says it is added');
  check((await page.textContent('.passkey-row .session-title')).trim() === 'Walk laptop', 'listed by its name');
  check((await page.textContent('.passkey-row .hint')).includes('Last used: never'), 'never used yet');
  const listed = await page.evaluate(async () => (await (await fetch('/api/webauthn/passkeys')).json()).passkeys);
  check(listed.length === 1 && listed[0].name === 'Walk laptop', `one passkey registered: ${JSON.stringify(listed)}`);
  const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
  check(credentials.length === 1 && credentials[0].isResidentCredential, 'the passkey is discoverable');
  console.log('registered on the account page');

  // An OpenID client allowed on its consent page: the account page lists it.
  await page.route(`${clientRedirect}**`, (route) =>
    route.fulfill({ status: 200, contentType: 'text/plain', body: 'the client' }));
  const authorize = new URL(`${a}/oidc/authorize`);
  for (const [name, value] of Object.entries({
    client_id: 'walk-app', redirect_uri: clientRedirect, response_type: 'code', scope: 'openid profile',
    state: 'walk', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256',
  })) {
    authorize.searchParams.set(name, value);
  }
  await page.goto(authorize.toString());
  await page.click('button[value=allow]');
  await page.waitForURL(`${clientRedirect}**`);
  await page.goto(`${a}/account`);
  check((await page.textContent('#consent-list')).includes('walk-app'), 'the allowed client is listed');
  check((await page.textContent('#consent-list')).includes('openid profile'), 'with its scopes');
  for (const scheme of ['light', 'dark']) {
    await page.emulateMedia({ colorScheme: scheme });
    for (const [size, viewport] of [['desktop', { width: 1280, height: 800 }], ['phone', { width: 390, height: 844 }]]) {
      await page.setViewportSize(viewport);
      const fits = await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);
      check(fits, `the account page fits the ${size} window`);
      await audit(page, `account page with passkeys ${size} ${scheme}`);
      await page.screenshot({ path: `${artifacts}/${size}-${scheme}-account-passkeys.png`, fullPage: true });
    }
  }
  await page.setViewportSize({ width: 1280, height: 800 });
  await page.emulateMedia({ colorScheme: 'light' });
  console.log('client allowed');

  // Password, then the passkey on the second step.
  await signOut(page, a);
  await passwordStep(page, a);
  await page.waitForURL(/\/totp$/);
  check(await page.isVisible('#passkey-second-factor'), 'the second step offers the passkey');
  check(!(await page.isVisible('#code')), 'no code form for a user without TOTP');
  for (const scheme of ['light', 'dark']) {
    await page.emulateMedia({ colorScheme: scheme });
    for (const [size, viewport] of [['desktop', { width: 1280, height: 800 }], ['phone', { width: 390, height: 844 }]]) {
      await page.setViewportSize(viewport);
      await audit(page, `passkey step ${size} ${scheme}`);
      await page.screenshot({ path: `${artifacts}/${size}-${scheme}-passkey-step.png`, fullPage: true });
    }
  }
  await page.setViewportSize({ width: 1280, height: 800 });
  await page.emulateMedia({ colorScheme: 'light' });
  await page.click('#passkey-second-factor');
  await page.waitForURL(`${a}/`);
  let who = await status(page, a);
  check(who.isLoggedIn && who.username === user, `signed in with password + passkey: ${JSON.stringify(who)}`);
  console.log('password + passkey');

  // Passwordless: the button on /login.
  await signOut(page, a);
  check(await page.isVisible('#passkey-signin'), 'the login page offers a passkey');
  check((await page.getAttribute('#username', 'autocomplete')) === 'username webauthn', 'autofill asks for passkeys');
  for (const scheme of ['light', 'dark']) {
    await page.emulateMedia({ colorScheme: scheme });
    for (const [size, viewport] of [['desktop', { width: 1280, height: 800 }], ['phone', { width: 390, height: 844 }]]) {
      await page.setViewportSize(viewport);
      await audit(page, `login with passkey ${size} ${scheme}`);
      await page.screenshot({ path: `${artifacts}/${size}-${scheme}-login-passkey.png`, fullPage: true });
    }
  }
  await page.setViewportSize({ width: 1280, height: 800 });
  await page.emulateMedia({ colorScheme: 'light' });
  await page.click('#passkey-signin');
  await page.waitForURL(`${a}/`);
  who = await status(page, a);
  check(who.isLoggedIn && who.username === user, `signed in without a password: ${JSON.stringify(who)}`);
  console.log('passwordless');

  // Conditional mediation: the login page asks for a passkey in the background (the
  // username field's autofill); the virtual authenticator, present, answers it with no click.
  await signOut(page, a);
  await autofill(true);
  const conditional = await page.evaluate(() => PublicKeyCredential.isConditionalMediationAvailable());
  check(conditional, 'Chromium offers conditional mediation');
  await page.goto(`${a}/login`);
  await page.waitForURL(`${a}/`, { timeout: 10000 });
  await autofill(false);
  who = await status(page, a);
  check(who.isLoggedIn && who.username === user, `signed in from autofill: ${JSON.stringify(who)}`);
  console.log('conditional mediation');

  // Replica B shares the store (Redis): the passkey registered on A signs in there.
  await signOut(page, a);
  await page.goto(`${b}/login`);
  await page.click('#passkey-signin');
  await page.waitForURL(`${b}/`);
  who = await status(page, b);
  check(who.isLoggedIn && who.username === user, `signed in on replica B: ${JSON.stringify(who)}`);
  console.log('replica B');

  // A session handed over by a one-time ticket is no recent sign-in: a change asks "Confirm
  // it's you", which offers the passkey beside the password.
  const redeemed = await page.evaluate(async () => {
    const { token } = await (await fetch('/api/ws-token')).json();
    const response = await fetch('/api/ticket/redeem', {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ token }),
    });
    return response.status;
  });
  check(redeemed === 200, `ticket redeemed (${redeemed})`);
  await page.goto(`${b}/account`);
  await page.click('form[action="/account/passkey-rename"] button');
  await page.waitForSelector('#passkey-reauth');
  check(await page.isVisible('#reauth-password'), 'the password is asked');
  check(await page.isVisible('#passkey-reauth'), 'and a passkey is offered');
  for (const scheme of ['light', 'dark']) {
    await page.emulateMedia({ colorScheme: scheme });
    for (const [size, viewport] of [['desktop', { width: 1280, height: 800 }], ['phone', { width: 390, height: 844 }]]) {
      await page.setViewportSize(viewport);
      await audit(page, `confirm it's you ${size} ${scheme}`);
      await page.screenshot({ path: `${artifacts}/${size}-${scheme}-reauth-passkey.png`, fullPage: true });
    }
  }
  await page.setViewportSize({ width: 1280, height: 800 });
  await page.emulateMedia({ colorScheme: 'light' });
  await page.click('#passkey-reauth');
  await page.waitForURL(/\/account\?done=reauth#passkeys$/);
  console.log('confirmed with the passkey');

  // B's account page: the last use (recorded at each sign-in and confirmation, in the shared
  // store), rename, revoke the client, remove the passkey.
  const hint = await page.textContent('.passkey-row .hint');
  check(!hint.includes('Last used: never') && /Last used: \d{4}-\d{2}-\d{2}/.test(hint), `the last use is shown: ${hint}`);
  await page.fill('#passkey-name-1', 'Renamed in the walk');
  await page.click('form[action="/account/passkey-rename"] button');
  await page.waitForURL(/\/account\?done=passkey-renamed#passkeys$/);
  check((await page.textContent('.passkey-row .session-title')).trim() === 'Renamed in the walk', 'renamed');
  await page.click('#consent-list form[action="/account/consent-revoke"] button');
  await page.waitForURL(/\/account\?done=consent-revoked#consents$/);
  check(await page.isVisible('#consents-none'), 'the client is revoked');
  await page.click('form[action="/account/passkey-remove"] button');
  await page.waitForURL(/\/account\?done=passkey-removed#passkeys$/);
  check(await page.isVisible('#passkeys-none'), 'the passkey is removed');
  console.log('renamed, revoked, removed on the account page');

  // Without it the password alone signs in again.
  await signOut(page, b);
  await passwordStep(page, b);
  await page.waitForURL(`${b}/`);
  console.log('removed');
  await context.close();
} finally {
  await browser.close();
}
console.log('passkeys: ok');
