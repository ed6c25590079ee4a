// Figures of the Node benchmarks: every figure a median with its min–max across rounds.

export function quantile(sorted, q) {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

// The median of the per-round values, their min and max: "m (lo–hi)".
export function spread(values, digits = 1) {
  const s = [...values].sort((a, b) => a - b);
  const f = (x) => x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
  if (s.length === 1) return f(s[0]);
  return `${f(quantile(s, 0.5))} (${f(s[0])}–${f(s[s.length - 1])})`;
}

export function median(values) {
  return quantile([...values].sort((a, b) => a - b), 0.5);
}

// Proportional set size (KiB) of a process, from /proc/PID/smaps_rollup; 0 when it is gone.
import { readdirSync, readFileSync } from 'node:fs';
export function pssKiB(pid) {
  try {
    const m = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch { return 0; }
}

// Every descendant of pid (children first, recursively).
export function descendants(pid) {
  let kids = [];
  try {
    for (const t of readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/))
      if (t) kids.push(Number(t));
  } catch { return []; }
  return kids.flatMap((k) => [k, ...descendants(k)]);
}

// CPU time of a process (all its threads) in seconds, from /proc/PID/task/*/schedstat, in
// nanoseconds: /proc/PID/stat's clock ticks round each of many small servers down to nothing.
// 0 when it is gone.
export function cpuSeconds(pid) {
  try {
    return readdirSync(`/proc/${pid}/task`).reduce((sum, t) => {
      try { return sum + Number(readFileSync(`/proc/${pid}/task/${t}/schedstat`, 'utf8').split(' ')[0]) / 1e9; }
      catch { return sum; }
    }, 0);
  } catch { return 0; }
}

export function parseArgs(argv) {
  const o = {};
  for (let i = 0; i < argv.length; i++) {
    if (!argv[i].startsWith('--')) throw new Error(`unexpected argument ${argv[i]}`);
    const k = argv[i].slice(2);
    if (i + 1 < argv.length && !argv[i + 1].startsWith('--')) o[k] = argv[++i];
    else o[k] = true;
  }
  return o;
}
