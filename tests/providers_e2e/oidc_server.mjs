// panva's oidc-provider as a standards-compliant OAuth 2.0 / OIDC server for the generic-provider
// tests. Configuration comes as JSON in argv[2]: {port, clients, scopes}. It prints "ready <url>"
// once listening. PKCE (S256) is required, refresh tokens are issued and rotated, RFC 7009
// revocation and RFC 7662 introspection are on; sign-in uses oidc-provider's own development
// interaction pages (any login name), and the consent prompt is answered by a standing grant.
import http from 'node:http';
import Provider from 'oidc-provider';

const config = JSON.parse(process.argv[2]);
const issuer = `http://127.0.0.1:${config.port}`;

const provider = new Provider(issuer, {
  clients: config.clients,
  scopes: config.scopes,
  pkce: { required: () => true },
  features: {
    devInteractions: { enabled: true },
    revocation: { enabled: true },
    introspection: { enabled: true },
  },
  issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
  rotateRefreshToken: () => true,
  async findAccount(_ctx, sub) {
    return { accountId: sub, async claims() { return { sub, name: `Person ${sub}` }; } };
  },
  async loadExistingGrant(ctx) {
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId,
      accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope(ctx.oidc.params.scope || 'openid');
    await grant.save();
    return grant;
  },
  ttl: { AccessToken: 600, AuthorizationCode: 60, RefreshToken: 86400, Grant: 86400,
         Session: 86400, Interaction: 600 },
});
provider.proxy = false;

http.createServer(provider.callback()).listen(config.port, '127.0.0.1', () => {
  console.log(`ready ${issuer}`);
});
