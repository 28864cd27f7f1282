// An OpenID Provider for idp's back-channel logout test: panva's
// oidc-provider, configured as a real deployment would be for an API with
// JWT access tokens, back-channel logout and RP-initiated logout. Nothing
// here answers for it: logins go through its own interaction pages.
//
//   node provider.mjs <port> <backchannel_logout_uri>
//
// It prints "listening <issuer>" once it accepts requests.
import Provider from 'oidc-provider';

const [port, backchannelLogoutURI] = process.argv.slice(2);
const issuer = `http://127.0.0.1:${port}`;
const api = 'https://api.example';

const provider = new Provider(issuer, {
  clients: [{
    client_id: 'orders-app',
    client_secret: 'orders-app-secret-0123456789abcdef',
    redirect_uris: ['http://127.0.0.1/callback'],
    post_logout_redirect_uris: ['http://127.0.0.1/logged-out'],
    response_types: ['code'],
    grant_types: ['authorization_code'],
    token_endpoint_auth_method: 'client_secret_post',
    backchannel_logout_uri: backchannelLogoutURI,
    backchannel_logout_session_required: true,
  }],
  features: {
    devInteractions: { enabled: true }, // its own login and consent pages
    backchannelLogout: { enabled: true },
    rpInitiatedLogout: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => api,
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({ scope: 'orders', audience: api, accessTokenFormat: 'jwt', accessTokenTTL: 600 }),
    },
  },
  // The session's ID in the access token, as Keycloak puts it there: what
  // a session logout is matched against.
  extraTokenClaims: (_ctx, token) => (token.sid ? { sid: token.sid } : undefined),
  findAccount: (_ctx, sub) => ({ accountId: sub, claims: () => ({ sub }) }),
  // Its outgoing requests refuse loopback addresses (an SSRF guard); this
  // test runs everything on 127.0.0.1, so they go without the guard.
  fetch: (url, { dispatcher: _guard, ...options }) => globalThis.fetch(url, options),
  scopes: ['openid', 'orders'],
});
provider.proxy = false;
const clientOf = (args) => args.find((a) => a?.clientId)?.clientId;
provider.on('backchannel.error', (...args) => {
  const err = args.find((a) => a instanceof Error);
  console.error('backchannel.error', clientOf(args), err?.message, err?.cause?.message ?? '');
});
provider.on('backchannel.success', (...args) => console.error('backchannel.success', clientOf(args)));
provider.on('server_error', (_ctx, err) => console.error('server_error', err));

provider.listen(Number(port), '127.0.0.1', () => console.log(`listening ${issuer}`));
