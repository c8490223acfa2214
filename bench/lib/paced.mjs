import net from 'node:net';

// An open-loop load at a constant rate: `rate` requests per second offered over `connections`
// keep-alive HTTP/1.1 connections, each request sent at its scheduled time (or as soon as a
// connection is free after it), whatever the answers before it did. Its latency counts from the
// scheduled time, so time spent waiting for a free connection is counted too (no coordinated
// omission).
//
// autocannon's `overallRate` is not this: each connection sends its share of a second's requests as
// fast as it is answered, then waits for the next second. That is the server's full speed for part
// of every second, a burst, and its latencies are the burst's queue.
//
// artillery has arrival rates, but it is a large dependency whose own CPU per request would compete
// with the server on a 2-core machine; wrk (Debian) is closed-loop like autocannon.
//
// The answers must carry Content-Length (Fastify's do); the requests are whatever `next()` builds.
//
// A request written to a kept-alive connection just as the server closes it for idleness is lost
// before the server reads it (its keep-alive timeout; no byte of an answer came). Such a request is
// sent once more on a fresh connection, as HTTP clients do, from its first scheduled time; one lost
// again counts as an error.

/**
 * `seconds` of `rate` requests/s to http://host:port; `next()` returns { method, path, body, headers }.
 * Resolves { sent, answered, perSecond, latencies (ms, sorted), statuses: { code: n }, errors,
 * resent (requests sent again after their connection closed before any byte of an answer) }.
 */
export async function pacedLoad({ host = '127.0.0.1', port, rate, seconds, connections = 100, next }) {
  const sockets = await Promise.all(Array.from({ length: connections }, () => connect(host, port)));
  const idle = [...sockets];
  const waiting = []; // scheduled send times with no free connection yet
  const latencies = [];
  const statuses = {};
  let errors = 0;
  let sent = 0;
  let resent = 0;
  const resending = new Set(); // scheduled times of requests lost once, waiting to be sent again
  let answered = 0;
  const t0 = performance.now();
  const total = Math.round(rate * seconds);

  const send = (sock, scheduled) => {
    const { method, path, body = '', headers = {} } = next();
    const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
    sock.scheduled = scheduled;
    sock.busy = true;
    sock.answering = false;
    sock.resend = resending.delete(scheduled);
    sock.write(`${method} ${path} HTTP/1.1\r\nHost: ${host}:${port}\r\n${extra}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    sent++;
  };
  let finish;
  const finished = new Promise((r) => (finish = r));
  let done = false;
  const use = (sock) => {
    if (waiting.length > 0) send(sock, waiting.shift());
    else idle.push(sock);
  };
  const adopt = (sock) => {
    sock.onAnswer = (status) => {
      sock.busy = false;
      latencies.push(performance.now() - sock.scheduled);
      statuses[status] = (statuses[status] ?? 0) + 1;
      answered++;
      use(sock);
      if (answered + errors === total) finish();
    };
    sock.once('close', () => {
      if (done) return;
      if (sock.busy && !sock.answering && !sock.resend) {
        // Closed before any byte of an answer: sent again on the fresh connection below.
        sock.busy = false;
        resent++;
        resending.add(sock.scheduled);
        waiting.unshift(sock.scheduled);
      } else if (sock.busy) {
        // A connection that fails or closes loses its request in flight.
        sock.busy = false;
        errors++;
        if (answered + errors === total) finish();
      } else {
        // Closed while idle (the server's keep-alive timeout, for a connection the load has not
        // needed for a while): out of the pool, or a request would later be written to it and
        // never answered.
        const i = idle.indexOf(sock);
        if (i >= 0) idle.splice(i, 1);
      }
      // Replaced, as a client does: the load keeps its connections.
      connect(host, port).then(
        (fresh) => {
          if (done) return fresh.destroy();
          adopt(fresh);
          sockets.push(fresh);
          use(fresh);
        },
        () => {},
      );
    });
  };
  for (const sock of sockets) adopt(sock);
  // Every millisecond (or as soon as the timer fires), send what is due by now.
  let scheduledCount = 0;
  const tick = () => {
    const now = performance.now();
    const due = Math.min(total, Math.floor(((now - t0) / 1000) * rate));
    for (; scheduledCount < due; scheduledCount++) {
      const at = t0 + (scheduledCount / rate) * 1000;
      const sock = idle.pop();
      if (sock) send(sock, at);
      else waiting.push(at);
    }
    if (scheduledCount < total) setTimeout(tick, 1);
  };
  tick();
  // Requests that a lost connection left waiting are never answered: give up on them after a while.
  const cap = setTimeout(finish, (seconds + 10) * 1000);
  await finished;
  clearTimeout(cap);
  const elapsed = performance.now() - t0;
  done = true;
  for (const s of sockets) s.destroy();
  latencies.sort((a, b) => a - b);
  return { sent, answered, perSecond: (answered / elapsed) * 1000, latencies, statuses, errors: total - answered, resent };
}

/** A connected socket that parses Content-Length answers and calls sock.onAnswer(status). */
function connect(host, port) {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host, port });
    sock.setNoDelay(true);
    let buf = Buffer.alloc(0);
    sock.on('data', (chunk) => {
      sock.answering = true;
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      for (;;) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buf.subarray(0, end).toString('latin1');
        const m = /\r\ncontent-length:\s*(\d+)/i.exec(head);
        if (!m) {
          sock.destroy(new Error(`an answer without Content-Length: ${head.slice(0, 200)}`));
          return;
        }
        const size = end + 4 + Number(m[1]);
        if (buf.length < size) return;
        buf = buf.subarray(size);
        sock.onAnswer(Number(head.slice(9, 12)));
      }
    });
    sock.once('connect', () => resolve(sock));
    sock.on('error', reject); // before connect: the load cannot start; after: 'close' counts it
  });
}
