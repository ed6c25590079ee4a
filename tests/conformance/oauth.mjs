// The app's half of MCP authorization, as an app using mcppool would do it: the
// daemon answered AUTH_REQUIRED with the server's WWW-Authenticate challenge; this
// runs the OAuth flow with the official SDK's client helper (auth()) and prints the
// access token, which the app then passes as the entry's auth value.
//   node oauth.mjs SERVER_URL CHALLENGE_JSON STATE_FILE
// CHALLENGE_JSON is the error's data (resource_metadata, scope, error, status);
// STATE_FILE keeps the client's registration between runs (a real app's store),
// so a step-up reuses it. The conformance authorization server approves at once:
// its authorization endpoint redirects straight back with the code.
import { readFileSync, writeFileSync } from 'node:fs';
import { auth } from '@modelcontextprotocol/sdk/client/auth.js';
import { ClientCredentialsProvider, PrivateKeyJwtProvider } from '@modelcontextprotocol/sdk/client/auth-extensions.js';

const [serverUrl, challengeText, stateFile] = process.argv.slice(2);
const challenge = JSON.parse(challengeText || '{}');
const context = JSON.parse(process.env.MCP_CONFORMANCE_CONTEXT || '{}');
let state = {};
try {
  state = JSON.parse(readFileSync(stateFile, 'utf8'));
} catch {
  /* the first run */
}
const save = () => writeFileSync(stateFile, JSON.stringify(state));

const redirectUrl = 'http://localhost:3000/callback';
let code;
const provider = {
  get redirectUrl() { return redirectUrl; },
  get clientMetadata() {
    return { client_name: 'mcppool conformance app', redirect_uris: [redirectUrl] };
  },
  // A URL-based client id (SEP-991), used where the server supports it.
  clientMetadataUrl: 'https://conformance-test.local/client-metadata.json',
  clientInformation() {
    if (context.client_id) // pre-registered
      return { client_id: context.client_id, client_secret: context.client_secret };
    return state.client;
  },
  saveClientInformation(info) { state.client = info; save(); },
  tokens() { return undefined; }, // each run is for a new challenge: get a new token
  saveTokens(tokens) { state.tokens = tokens; save(); },
  async redirectToAuthorization(url) {
    const res = await fetch(url, { redirect: 'manual' });
    const location = res.headers.get('location');
    code = location && new URL(location).searchParams.get('code');
    if (!code) throw new Error(`the authorization endpoint gave no code (HTTP ${res.status})`);
  },
  saveCodeVerifier(v) { state.verifier = v; save(); },
  codeVerifier() { return state.verifier; },
  invalidateCredentials(scope) {
    if (scope === 'all' || scope === 'client') delete state.client;
    delete state.tokens;
    save();
  },
};

// A machine client (the client_credentials extension) has no user to redirect:
// the SDK's providers for a client secret or a private-key JWT get the token.
async function machineToken(options) {
  const p = context.private_key_pem
    ? new PrivateKeyJwtProvider({ clientId: context.client_id, privateKey: context.private_key_pem,
      algorithm: context.signing_algorithm || 'ES256' })
    : new ClientCredentialsProvider({ clientId: context.client_id, clientSecret: context.client_secret });
  const result = await auth(p, options);
  return result === 'AUTHORIZED' ? p.tokens()?.access_token : undefined;
}

const options = {
  serverUrl,
  resourceMetadataUrl: challenge.resource_metadata ? new URL(challenge.resource_metadata) : undefined,
  scope: challenge.scope,
};
if ((process.env.MCP_CONFORMANCE_SCENARIO || '').startsWith('auth/client-credentials')) {
  const token = await machineToken(options);
  if (!token) {
    console.error('oauth.mjs: the client_credentials grant gave no token');
    process.exit(1);
  }
  process.stdout.write(token);
  process.exit(0);
}
let result = await auth(provider, options);
if (result === 'REDIRECT')
  result = await auth(provider, { ...options, authorizationCode: code });
if (result !== 'AUTHORIZED' || !state.tokens?.access_token) {
  console.error(`oauth.mjs: authorization failed (${result})`);
  process.exit(1);
}
process.stdout.write(state.tokens.access_token);
