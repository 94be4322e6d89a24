// A real authorization server for authgate's interoperability test:
// panva's oidc-provider (pinned in package.json / package-lock.json), on
// loopback, with the client credentials grant, resource indicators (JWT
// access tokens for one resource, opaque ones for another) and token
// introspection. Started by tests/interop_oidc_provider.rs as
// `node server.js <port>`; prints `READY <issuer>` once it listens.
import crypto from 'node:crypto';

import Provider from 'oidc-provider';

const port = Number(process.argv[2] || process.env.PORT || 0);
const issuer = `http://127.0.0.1:${port}`;

// Throwaway signing keys, made at every start.
const jwk = (type, options, alg, kid) => ({
  ...crypto.generateKeyPairSync(type, options).privateKey.export({ format: 'jwk' }),
  alg,
  kid,
  use: 'sig',
});

export const JWT_RESOURCE = 'https://api.example/jwt';
export const OPAQUE_RESOURCE = 'https://api.example/opaque';

const provider = new Provider(issuer, {
  jwks: {
    keys: [
      jwk('rsa', { modulusLength: 2048 }, 'RS256', 'rs256-key'),
      jwk('ec', { namedCurve: 'P-256' }, 'ES256', 'es256-key'),
    ],
  },
  scopes: ['orders:read', 'admin'],
  clients: [
    {
      // The client that asks for tokens.
      client_id: 'app',
      client_secret: 'app-secret-0123456789-0123456789-0123456789',
      grant_types: ['client_credentials'],
      redirect_uris: [],
      response_types: [],
      token_endpoint_auth_method: 'client_secret_basic',
      scope: 'orders:read admin',
    },
    {
      // The resource server guarded by authgate: it introspects.
      client_id: 'authgate-rs',
      client_secret: 'rs-secret-0123456789-0123456789-0123456789',
      grant_types: ['client_credentials'],
      redirect_uris: [],
      response_types: [],
      token_endpoint_auth_method: 'client_secret_basic',
    },
  ],
  features: {
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: true },
    devInteractions: { enabled: false },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => OPAQUE_RESOURCE,
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, resource) => {
        if (resource === JWT_RESOURCE) {
          return {
            scope: 'orders:read admin',
            accessTokenTTL: 600,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: 'ES256' } },
          };
        }
        if (resource === OPAQUE_RESOURCE) {
          return { scope: 'orders:read admin', accessTokenTTL: 600, accessTokenFormat: 'opaque' };
        }
        throw new Provider.errors.InvalidTarget();
      },
    },
  },
});

provider.listen(port, '127.0.0.1', () => {
  process.stdout.write(`READY ${issuer}\n`);
});
