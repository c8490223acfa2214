import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { SandboxRunner } from '../../src/executor/sandbox-port.js';
import { buildPlan, entryPointOf } from '../../src/executions/plan.js';
import { detectJavaEntry } from '../../src/languages/entry-point.js';
import { LanguageRegistry, defaultProfilesDir } from '../../src/languages/registry.js';
import { loadConfig } from '../../src/config/load.js';
import { isRoot, openTestSandbox, rig, type Rig } from './helpers.js';

// What a plan says for a language, and that the executor runs it: Java finds the class the
// learner named, whatever it is called.

const fallback = { sourceFile: 'Main.java', mainClass: 'Main' };

describe('Java entry point', () => {
  it('saves a public class in a file of its name and runs the class with main', () => {
    expect(detectJavaEntry('public class HelloWorld {\n public static void main(String[] a) {}\n}', fallback)).toEqual({ sourceFile: 'HelloWorld.java', mainClass: 'HelloWorld' });
    expect(detectJavaEntry('import java.util.*;\n\npublic final class Solution { public static void main(String... args) { } }', fallback)).toEqual({
      sourceFile: 'Solution.java',
      mainClass: 'Solution',
    });
    // main in a non-public class of the file: the file is named for the public one, the other runs.
    expect(detectJavaEntry('class Runner { static void main(String[] a) {} }\npublic class Lib {}', fallback)).toEqual({ sourceFile: 'Lib.java', mainClass: 'Runner' });
    // main in a nested class: run by its binary name.
    expect(detectJavaEntry('public class Outer { static class Inner { public static void main(String[] a) {} } }', fallback)).toEqual({ sourceFile: 'Outer.java', mainClass: 'Outer$Inner' });
    // No public class: Main.java, and the class with main runs.
    expect(detectJavaEntry('class App { public static void main(String[] a) {} }', fallback)).toEqual({ sourceFile: 'Main.java', mainClass: 'App' });
  });

  it('is not fooled by comments, strings or nested public classes', () => {
    const src = '// public class Fake {}\n/* public class Nope { static void main(String[] a) {} } */\nclass Main {\n  String s = "public class InString";\n  public static class Inner {}\n  public static void main(String[] a) {}\n}';
    expect(detectJavaEntry(src, fallback)).toEqual({ sourceFile: 'Main.java', mainClass: 'Main' });
    expect(detectJavaEntry('public class Ünïcode { public static void main(String[] a) {} }', fallback)).toEqual(fallback);
    expect(detectJavaEntry('', fallback)).toEqual(fallback);
  });

  it('the plan carries the file and class into the commands', async () => {
    const languages = await LanguageRegistry.load(defaultProfilesDir(), loadConfig({}), { probeVersions: false });
    const java = languages.find('java')!;
    const src = 'public class HelloWorld { public static void main(String[] a) { System.out.println("hi"); } }';
    expect(entryPointOf(java, src)).toEqual({ sourceFile: 'HelloWorld.java', mainClass: 'HelloWorld' });
    const plan = buildPlan(java, { sourceCode: src, stdin: '', expectedOutput: null, testCases: null, overrides: { memoryBytes: 256 << 20 } });
    expect(plan.sourceFile).toBe('HelloWorld.java');
    expect(plan.compile?.argv.at(-1)).toBe('HelloWorld.java');
    expect(plan.run.argv.at(-1)).toBe('HelloWorld');
    expect(plan.run.argv).toContain('-XX:MaxRAM=256m');
    expect(plan.run.argv.join(' ')).not.toMatch(/[{}]/);
  });
});

describe.skipIf(!isRoot)('plans run by the executor (needs root for the sandbox)', () => {
  let sandbox: SandboxRunner;
  let r: Rig;
  beforeAll(async () => {
    sandbox = await openTestSandbox();
  });
  afterAll(async () => sandbox.close());
  afterEach(async () => r?.close());

  it('Java: a learner\'s public class HelloWorld compiles and runs', async () => {
    r = await rig(sandbox);
    if (!r.languages.find('java')?.available) throw new Error('java is not installed: run .ci/install-toolchains.sh');
    const rec = await r.settle(
      await r.submit({ language: 'java', sourceCode: 'public class HelloWorld {\n  public static void main(String[] args) {\n    System.out.println("Hello from " + HelloWorld.class.getSimpleName());\n  }\n}\n' }),
      60_000,
    );
    expect(rec.status, JSON.stringify(rec.result)).toBe('COMPLETED');
    expect(rec.result?.stdout).toBe('Hello from HelloWorld\n');
  }, 90_000);
});
