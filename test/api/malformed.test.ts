import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createSession, startHarness, type Harness } from './harness.js';

// Bad input must get a 4xx in our error shape, never a 500 and never a stack.
function expectClientError(res: { status: number; json: any; body: string }, label: string): void {
  expect(res.status, `${label}: ${res.body.slice(0, 300)}`).toBeGreaterThanOrEqual(400);
  expect(res.status, `${label}: ${res.body.slice(0, 300)}`).toBeLessThan(500);
  expect(res.json?.error?.code, label).toMatch(/^[a-z_]+$/);
  expect(typeof res.json?.error?.message, label).toBe('string');
  expect(res.body, label).not.toMatch(/\s+at\s+\S+\s\(|node_modules|\.ts:\d+/);
}

const deep = (n: number, open: string, close: string) => open.repeat(n) + close.repeat(n);

const BAD_BODIES: [string, string | Buffer][] = [
  ['not json', 'hello'],
  ['truncated json', '{"language": "python"'],
  ['trailing garbage', '{"language": "python"} x'],
  ['array', '[{"language": "python"}]'],
  ['string', '"python"'],
  ['number', '42'],
  ['null', 'null'],
  ['true', 'true'],
  ['language number', '{"language": 42}'],
  ['language array', '{"language": ["python"]}'],
  ['language object', '{"language": {"id": "python"}}'],
  ['language null', '{"language": null}'],
  ['language empty', '{"language": ""}'],
  ['language huge', JSON.stringify({ language: 'p'.repeat(100_000) })],
  ['source number', '{"language": "python", "source_code": 123}'],
  ['source array', '{"language": "python", "source_code": ["print(1)"]}'],
  ['source object', '{"language": "python", "source_code": {"a": 1}}'],
  ['unknown field', '{"language": "python", "sourcecode": "print(1)"}'],
  ['proto poisoning', '{"language": "python", "__proto__": {"admin": true}}'],
  ['constructor poisoning', '{"language": "python", "constructor": {"prototype": {"admin": true}}}'],
  ['deep arrays', deep(100_000, '[', ']')],
  ['deep objects', deep(20_000, '{"a":', '}').replace(/}$/, '1}')],
  ['deep in a field', `{"language": "python", "source_code": ${deep(50_000, '[', ']')}}`],
  ['not utf-8', Buffer.from([0x7b, 0x22, 0x6c, 0x61, 0x6e, 0x67, 0x75, 0x61, 0x67, 0x65, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d])],
  ['lone continuation bytes', Buffer.concat([Buffer.from('{"language":"python","source_code":"'), Buffer.from([0x80, 0x80]), Buffer.from('"}')])],
  ['nul bytes', '\u0000\u0000\u0000'],
];

const PATCH_BODIES: [string, unknown][] = [
  ['revision string', { revision: '5' }],
  ['revision negative', { revision: -1 }],
  ['revision zero', { revision: 0 }],
  ['revision float', { revision: 1.5 }],
  ['revision huge', { revision: 1e300 }],
  ['language number', { language: 1 }],
  ['source bool', { source_code: true }],
  ['unknown field', { code: 'x' }],
];

const RUN_BODIES: [string, unknown][] = [
  ['stdin number', { stdin: 5 }],
  ['stdin array', { stdin: ['a'] }],
  ['stdin object', { stdin: { a: 1 } }],
  ['expected bool', { expected_output: false }],
  ['time limit string', { time_limit_ms: '1000' }],
  ['time limit zero', { time_limit_ms: 0 }],
  ['time limit negative', { time_limit_ms: -5 }],
  ['time limit too big', { time_limit_ms: 10_000_000 }],
  ['time limit float', { time_limit_ms: 1.5 }],
  ['time limit too small', { time_limit_ms: 99 }],
  ['memory limit too small', { memory_limit_bytes: 1024 }],
  ['memory limit huge', { memory_limit_bytes: 2 ** 60 }],
  ['unknown field', { language: 'python' }],
  ['array', [1, 2]],
  ['string', 'run'],
];

describe('malformed requests never cause a 500', () => {
  let h: Harness;
  let id: string;
  beforeAll(async () => {
    h = await startHarness({ config: { sessionMaxInFlight: 100, maxBodyBytes: 1024 * 1024 } });
    id = (await createSession(h)).session_id;
  });
  afterAll(async () => {
    await h.close();
  });

  it.each(BAD_BODIES)('POST /code-sessions with %s', async (label, payload) => {
    const res = await call(h, 'POST', '/code-sessions', payload);
    expectClientError(res, label);
  });

  it.each(BAD_BODIES)('PATCH and run with %s', async (label, payload) => {
    const res = await call(h, 'PATCH', `/code-sessions/${id}`, payload);
    // Some bodies are valid autosaves (e.g. "{}" variants are not in the list); all here are not.
    expectClientError(res, `PATCH ${label}`);
    const run = await call(h, 'POST', `/code-sessions/${id}/run`, payload);
    expectClientError(run, `run ${label}`);
  });

  it.each(PATCH_BODIES)('PATCH with %s is 400 invalid_request naming the field', async (label, body) => {
    const res = await call(h, 'PATCH', `/code-sessions/${id}`, body);
    expectClientError(res, label);
    expect(res.status).toBe(400);
    expect(res.json.error.code).toBe('invalid_request');
    expect(res.json.error.message).toMatch(/^body/);
  });

  it.each(RUN_BODIES)('run with %s is 400 invalid_request', async (label, body) => {
    const res = await call(h, 'POST', `/code-sessions/${id}/run`, body);
    expectClientError(res, label);
    expect(res.status).toBe(400);
  });

  it('says which field is wrong', async () => {
    const res = await call(h, 'POST', '/code-sessions', { language: 'python', source_code: 123 });
    expect(res.json.error.message).toContain('source_code');
    const missing = await call(h, 'POST', '/code-sessions', { source_code: 'x' });
    expect(missing.status).toBe(400);
    expect(missing.json.error.message).toContain('language');
    const unknown = await call(h, 'POST', '/code-sessions', { language: 'python', sourcecode: 'x' });
    expect(unknown.json.error.message).toContain('sourcecode');
  });

  it('invalid JSON is 400 invalid_json; an empty JSON body where one is required is 400', async () => {
    const res = await call(h, 'POST', '/code-sessions', '{"language":');
    expect(res.status).toBe(400);
    expect(res.json.error.code).toBe('invalid_json');
    const utf = await call(h, 'POST', '/code-sessions', Buffer.from([0x7b, 0xff, 0x7d]));
    expect(utf.json.error).toMatchObject({ code: 'invalid_json', message: expect.stringContaining('UTF-8') });
    const empty = await h.app.inject({ method: 'POST', url: '/code-sessions', headers: { 'content-type': 'application/json' }, payload: '' });
    expect(empty.statusCode).toBe(400);
    expect(empty.json().error.code).toBe('invalid_request');
  });

  it('other content types are 415 unsupported_media_type', async () => {
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/xml']) {
      const res = await h.app.inject({ method: 'POST', url: '/code-sessions', headers: { 'content-type': type }, payload: 'language=python' });
      expect(res.statusCode, type).toBe(415);
      expect(res.json().error.code).toBe('unsupported_media_type');
    }
    const run = await h.app.inject({ method: 'POST', url: `/code-sessions/${id}/run`, headers: { 'content-type': 'text/plain' }, payload: 'go' });
    expect(run.statusCode).toBe(415);
  });

  it('JSON with a charset parameter is accepted', async () => {
    const res = await h.app.inject({
      method: 'POST',
      url: '/code-sessions',
      headers: { 'content-type': 'application/json; charset=utf-8' },
      payload: JSON.stringify({ language: 'python' }),
    });
    expect(res.statusCode).toBe(201);
  });

  it('unknown routes and methods are 404 route_not_found in our shape', async () => {
    for (const [method, url] of [
      ['GET', '/nope'],
      ['PUT', '/code-sessions'],
      ['POST', `/executions/${id}`],
      ['GET', '/code-sessions'],
      ['DELETE', '/languages'],
    ] as const) {
      const res = await call(h, method as 'GET', url);
      expect(res.status, `${method} ${url}`).toBe(404);
      expect(res.json.error.code).toBe('route_not_found');
    }
  });

  it('bad percent-encoding in the path is a 400 in our shape', async () => {
    const res = await call(h, 'GET', '/code-sessions/%E0%A4%A');
    expectClientError(res, 'bad url');
  });

  it('strings with NUL and emoji round-trip exactly; a lone surrogate is refused (400 invalid_text), never altered', async () => {
    const code = 'print("\u0000 😀 \ud83d\ude00")';
    const res = await call(h, 'POST', '/code-sessions', { language: 'python', source_code: code });
    expect(res.status).toBe(201);
    const got = await call(h, 'GET', `/code-sessions/${res.json.session_id}`);
    expect(got.status).toBe(200);
    expect(got.json.source_code).toBe(code);
    for (const lone of ['\ud800abc', 'x\udc00', 'end\ud83d']) {
      const bad = await call(h, 'POST', '/code-sessions', { language: 'python', source_code: lone });
      expect(bad.status, JSON.stringify(lone)).toBe(400);
      expect(bad.json.error).toMatchObject({ code: 'invalid_text', details: { field: 'source_code' } });
      const patch = await call(h, 'PATCH', `/code-sessions/${res.json.session_id}`, { source_code: lone });
      expect(patch.json.error.code).toBe('invalid_text');
      const run = await call(h, 'POST', `/code-sessions/${res.json.session_id}/run`, { stdin: lone });
      expect(run.json.error).toMatchObject({ code: 'invalid_text', details: { field: 'stdin' } });
    }
    expect((await call(h, 'GET', `/code-sessions/${res.json.session_id}`)).json.source_code).toBe(code);
  });
});

describe('connection-level limits answer in JSON', () => {
  let h: Harness;
  let port: number;
  beforeAll(async () => {
    h = await startHarness({ config: { requestTimeoutMs: 500 } });
    await h.app.listen({ port: 0, host: '127.0.0.1' });
    port = (h.app.server.address() as net.AddressInfo).port;
  });
  afterAll(async () => {
    await h.close();
  });

  // Sends raw bytes; resolves with what came back once the server closes the connection.
  function raw(request: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1');
      let data = '';
      const giveUp = setTimeout(() => {
        socket.destroy();
        reject(new Error('the server did not close the connection'));
      }, 10_000);
      socket.on('data', (d) => (data += d.toString()));
      socket.on('error', () => undefined);
      socket.on('close', () => {
        clearTimeout(giveUp);
        resolve(data);
      });
      socket.on('connect', () => socket.write(request));
    });
  }

  it('headers over 16 KiB: 431 headers_too_large', async () => {
    const res = await raw(`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
    expect(res).toMatch(/^HTTP\/1.1 431/);
    expect(JSON.parse(res.slice(res.indexOf('\r\n\r\n') + 4)).error.code).toBe('headers_too_large');
  });

  it('a URL over 16 KiB: 431 too', async () => {
    const res = await raw(`GET /code-sessions/${'a'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`);
    expect(res).toMatch(/^HTTP\/1.1 431/);
  });

  it('garbage bytes: 400 bad_request', async () => {
    const res = await raw('\u0001\u0002 not http at all\r\n\r\n');
    expect(res).toMatch(/^HTTP\/1.1 400/);
    expect(res).toContain('"bad_request"');
  });

  it('headers that never finish arriving: 408 request_timeout', async () => {
    const res = await raw('POST /code-sessions HTTP/1.1\r\nHost: x\r\n');
    expect(res).toMatch(/^HTTP\/1.1 408/);
    expect(res).toContain('"request_timeout"');
  });

  it('a body that stalls: the server closes the connection', async () => {
    await expect(raw('POST /code-sessions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"lang')).resolves.toBeTypeOf('string');
  });
});
