// A fake mcppoold for tests: a Unix-socket server speaking the wire protocol (proto/PROTOCOL.md).
import net from 'node:net';

import { decode, encode } from '@msgpack/msgpack';

export const REQUEST = 0, REPLY = 1, NOTIFY = 2, EVENT = 3;

export function frame(msg) {
	const payload = encode(msg);
	const b = Buffer.alloc(4 + payload.length);
	b.writeUInt32BE(payload.length, 0);
	b.set(payload, 4);
	return b;
}

/*
 * A Unix-socket server that speaks the wire protocol. Each request is handed to
 * fake.handler(msg, peer) (default: answer hello); peer.send(msg) sends a message,
 * peer.raw(buf) raw bytes. Everything received is kept in fake.received.
 */
export class FakeDaemon {
	constructor(socket) {
		this.socket = socket;
		this.received = [];
		this.peers = [];
		this.helloVersion = 2;
		this.answerHello = true; // false: hello goes to the handler too
		this.handler = () => {};
		this.server = net.createServer((s) => this.accept(s));
	}

	listen() {
		return new Promise((r) => this.server.listen(this.socket, r));
	}

	accept(s) {
		const peer = {
			send: (msg) => s.write(frame(msg)),
			raw: (buf) => s.write(buf),
			end: () => s.destroy(),
		};
		this.peers.push(peer);
		let buf = Buffer.alloc(0);
		s.on('error', () => {});
		s.on('data', (chunk) => {
			buf = Buffer.concat([buf, chunk]);
			while (buf.length >= 4 && buf.length >= 4 + buf.readUInt32BE(0)) {
				const len = buf.readUInt32BE(0);
				const msg = decode(buf.subarray(4, 4 + len));
				buf = buf.subarray(4 + len);
				this.received.push(msg);
				if (msg[0] === REQUEST && msg[2] === 'hello' && this.answerHello)
					peer.send([REPLY, msg[1], null, { version: this.helloVersion, versions: [1, 2], server: 'fake/1', maxFrame: 1 << 20 }]);
				else
					this.handler(msg, peer);
			}
		});
	}

	requests(op) {
		return this.received.filter((m) => m[0] === REQUEST && m[2] === op);
	}

	notifies(op) {
		return this.received.filter((m) => m[0] === NOTIFY && m[1] === op);
	}

	close() {
		for (const p of this.peers)
			p.end();
		return new Promise((r) => this.server.close(r));
	}
}
