import { startDaemon } from './test/helpers.js';
import { connect } from 'mcppool';
const d = await startDaemon();
const pool = await connect({ socket: d.socket });
await pool.call('a', 'fx', 'echo', { message: 'x' });
let t = process.hrtime.bigint(); const N = 3000;
const lat = [];
for (let i = 0; i < N; i++) { const s = process.hrtime.bigint(); await pool.call('a', 'fx', 'echo', { message: 'x' }); lat.push(Number(process.hrtime.bigint() - s) / 1000); }
lat.sort((a, b) => a - b);
console.log('sequential median us', lat[N >> 1].toFixed(1), 'p99', lat[Math.floor(N * 0.99)].toFixed(1));
t = process.hrtime.bigint(); const M = 20000; let done = 0;
const worker = async () => { while (done < M) { done++; await pool.call('a', 'fx', 'echo', { message: 'x' }); } };
await Promise.all(Array.from({ length: 64 }, worker));
console.log('64 in flight calls/s', Math.round(M / (Number(process.hrtime.bigint() - t) / 1e9)));
await pool.close(); await d.cleanup();
