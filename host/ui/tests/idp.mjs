// A real OpenID provider for the browser test: the `oidc-provider` package
// (a certified OpenID Connect implementation), not a stand-in written here.
// Its development sign-in pages accept any login; the people below carry a
// `groups` claim in their ID token.
//
//   node tests/idp.mjs PORT CLIENT_ID CLIENT_SECRET REDIRECT_URI
//
// Prints "idp listening on http://127.0.0.1:PORT" once it serves.
import Provider from "oidc-provider";

const [port, clientId, clientSecret, redirect] = process.argv.slice(2);
if (!port || !clientId || !clientSecret || !redirect) {
  console.error("usage: node tests/idp.mjs PORT CLIENT_ID CLIENT_SECRET REDIRECT_URI");
  process.exit(2);
}
const PEOPLE = {
  ayse: { name: "Ayşe Yılmaz", groups: ["payops-operators", "staff"] },
  veli: { name: "Veli Demir", groups: ["payops-viewers"] },
  nobody: { name: "No Body", groups: ["staff"] },
};
const issuer = `http://127.0.0.1:${port}`;
const provider = new Provider(issuer, {
  clients: [
    {
      client_id: clientId,
      client_secret: clientSecret,
      redirect_uris: [redirect],
      response_types: ["code"],
      grant_types: ["authorization_code"],
      token_endpoint_auth_method: "client_secret_basic",
    },
  ],
  claims: { openid: ["sub"], profile: ["name"], groups: ["groups"] },
  // The scopes' claims in the ID token itself (payops reads the roles
  // claim there).
  conformIdTokenClaims: false,
  findAccount: async (_ctx, id) => ({
    accountId: id,
    claims: async () => ({ sub: id, name: PEOPLE[id]?.name ?? id, groups: PEOPLE[id]?.groups ?? [] }),
  }),
  features: { devInteractions: { enabled: true } },
  cookies: { keys: ["payops-test-idp-cookie-key"] },
});
provider.listen(Number(port), "127.0.0.1", () => console.log(`idp listening on ${issuer}`));
