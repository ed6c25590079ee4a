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
import { readFileSync } from 'node:fs';
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

// utime + stime of a process in seconds.
export function cpuSeconds(pid) {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
    return (Number(rest[11]) + Number(rest[12])) / 100;
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
