import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { bytes, defaultDataDir, formatSize, httpUrl, int, parseSize } from '../../src/config/parsers.js';
import { CONFIG_SCHEMA } from '../../src/config/schema.js';

describe('sizes', () => {
  it('accept bytes or a binary unit', () => {
    expect(parseSize('1048576')).toBe(1048576);
    expect(parseSize('64k')).toBe(64 * 1024);
    expect(parseSize('64K')).toBe(64 * 1024);
    expect(parseSize('512M')).toBe(512 * 1024 * 1024);
    expect(parseSize('512MiB')).toBe(512 * 1024 * 1024);
    expect(parseSize('1G')).toBe(1024 ** 3);
    expect(parseSize('1gb')).toBe(1024 ** 3);
    expect(parseSize('1.5G')).toBe(1.5 * 1024 ** 3);
    expect(parseSize(' 2 M ')).toBe(2 * 1024 * 1024);
  });
  it('refuse what is not a size', () => {
    for (const bad of ['', 'M', '12x', '-5', '1.5', '1e9', '0x10', '10 MB extra']) expect(() => parseSize(bad), bad).toThrow(/size/);
  });
  it('CODEXEC_*_BYTES take units too, within their range', () => {
    const c = loadConfig({ CODEXEC_MEMORY_BYTES: '512M', CODEXEC_OUTPUT_BYTES: '128k', CODEXEC_TMPFS_BYTES: '64MiB' });
    expect(c.memoryBytes).toBe(512 * 1024 * 1024);
    expect(c.outputBytes).toBe(128 * 1024);
    expect(c.tmpfsBytes).toBe(64 * 1024 * 1024);
    expect(() => loadConfig({ CODEXEC_MEMORY_BYTES: '8M' })).toThrow(/CODEXEC_MEMORY_BYTES: expected 16 MiB or more, got 8 MiB/);
  });
  it('format back to the largest whole unit', () => {
    expect(formatSize(16 * 1024 * 1024)).toBe('16 MiB');
    expect(formatSize(1024 ** 4)).toBe('1 TiB');
    expect(formatSize(1000)).toBe('1000 bytes');
  });
});

describe('every parser says what it accepts', () => {
  it('in words that match what it enforces', () => {
    expect(int(0, 65535).accepts).toBe('0 to 65,535');
    expect(int(1).accepts).toBe('1 or more');
    expect(bytes(16 * 1024 * 1024).accepts).toBe('16 MiB or more (bytes, or 64k, 512M, 1G)');
    for (const spec of Object.values(CONFIG_SCHEMA)) expect(spec.parse.accepts.length, spec.env).toBeGreaterThan(3);
  });
});

describe('CODEXEC_URL', () => {
  it('is an http(s) URL', () => {
    expect(httpUrl('http://localhost:8080/')).toBe('http://localhost:8080');
    expect(httpUrl('https://codexec.example.org/api')).toBe('https://codexec.example.org/api');
    expect(() => httpUrl('localhost:8080')).toThrow(/http/);
    expect(() => httpUrl('nope')).toThrow(/URL/);
    expect(() => loadConfig({ CODEXEC_URL: 'ftp://x' })).toThrow(/CODEXEC_URL/);
  });
});

describe('the data directory', () => {
  it('never depends on the current directory', () => {
    expect(defaultDataDir({}, 0)).toBe('/var/lib/codexec');
    expect(defaultDataDir({ XDG_DATA_HOME: '/home/ann/.data' }, 1000)).toBe('/home/ann/.data/codexec');
    expect(defaultDataDir({}, 1000)).toBe(path.join(os.homedir(), '.local', 'share', 'codexec'));
    // A relative XDG_DATA_HOME is invalid by the XDG spec: ignored, like an unset one.
    expect(defaultDataDir({ XDG_DATA_HOME: 'rel' }, 1000)).toBe(path.join(os.homedir(), '.local', 'share', 'codexec'));
    expect(path.isAbsolute(CONFIG_SCHEMA.dataDir.default)).toBe(true);
  });
  it('a relative CODEXEC_DATA_DIR is resolved once, at startup', () => {
    expect(loadConfig({ CODEXEC_DATA_DIR: 'data' }).dataDir).toBe(path.resolve('data'));
  });
});
