#!/usr/bin/env node
// TCP → unix socket relay, started inside the Docker engine's network namespace:
//
//   nsenter --net=/run/netns/NS node ops/docker/relay.mjs --listen 127.0.0.1:3128 --to /run/x/egress.sock
//
// A unix socket is a file, so a process in another network namespace still reaches it: this is
// the only way out of that namespace, and it leads to ops/docker/egress-proxy.mjs on the host.
// Prints "listening 127.0.0.1:PORT" on stdout once ready. SIGTERM/SIGINT stop it.
import net from 'node:net';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { listen: { type: 'string' }, to: { type: 'string' } } });
const m = /^(.+):(\d+)$/.exec(values.listen ?? '');
if (!m || !values.to) {
  process.stderr.write('usage: relay.mjs --listen HOST:PORT --to /path/to/unix.sock\n');
  process.exit(2);
}
const [, host, port] = m;

const server = net.createServer((client) => {
  const upstream = net.connect(values.to);
  client.pipe(upstream);
  upstream.pipe(client);
  const close = () => {
    client.destroy();
    upstream.destroy();
  };
  client.on('error', close);
  upstream.on('error', close);
});
server.listen(Number(port), host, () => {
  process.stdout.write(`listening ${host}:${server.address().port}\n`);
});
const stop = () => {
  server.close();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
