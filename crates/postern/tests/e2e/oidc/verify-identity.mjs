// Verifies a postern identity token the way an upstream app would: node `jose`, the JWKS found
// through postern's discovery document, the issuer and the audience checked.
// Usage: node verify-identity.mjs <discovery URL> <token> <audience>
// Host names in the URLs resolve to 127.0.0.1 (like an /etc/hosts entry), so the JWKS URL is
// used exactly as discovery gives it. Prints {"header": ..., "payload": ...}; exits 1 if the
// token does not verify.
import http from "node:http";
import { createRemoteJWKSet, jwtVerify } from "jose";

const [discoveryUrl, token, audience] = process.argv.slice(2);

function loopback(hostname, options, callback) {
  if (options && options.all) callback(null, [{ address: "127.0.0.1", family: 4 }]);
  else callback(null, "127.0.0.1", 4);
}
const agent = new http.Agent({ lookup: loopback });

function getJson(url) {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent }, (response) => {
        let body = "";
        response.on("data", (chunk) => (body += chunk));
        response.on("end", () => {
          if (response.statusCode !== 200) reject(new Error(`${url}: ${response.statusCode}`));
          else resolve(JSON.parse(body));
        });
      })
      .on("error", reject);
  });
}

try {
  const discovery = await getJson(discoveryUrl);
  const jwks = createRemoteJWKSet(new URL(discovery.jwks_uri), { agent });
  const { payload, protectedHeader } = await jwtVerify(token, jwks, {
    issuer: discovery.issuer,
    audience,
  });
  console.log(JSON.stringify({ header: protectedHeader, payload }));
} catch (error) {
  console.error(`${error.code ?? "error"}: ${error.message}`);
  process.exit(1);
}
