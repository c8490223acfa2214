// Which file and class a program's source names, for languages whose toolchain cares (Java: a
// public class must live in a file of its name, and `java` runs the class with main). Learners
// paste `public class HelloWorld { ... }` far more often than `Main`.

export interface EntryPoint {
  sourceFile: string;
  mainClass: string;
}

/** Detectors a language profile can name in `entryPoint.detect`. */
export const ENTRY_POINT_DETECTORS = ['java_class'] as const;
export type EntryPointDetector = (typeof ENTRY_POINT_DETECTORS)[number];

const JAVA_IDENT = '[A-Za-z_$][A-Za-z0-9_$]*';
// Top-level types cannot be static: "public static class" is a nested one and does not match.
const PUBLIC_TYPE = new RegExp(`\\bpublic\\s+(?:(?:final|abstract|strictfp|sealed|non-sealed)\\s+)*(?:class|interface|enum|record)\\s+(${JAVA_IDENT})`);
const ANY_TYPE = new RegExp(`\\b(?:class|interface|enum|record)\\s+(${JAVA_IDENT})`, 'g');
const MAIN = /\bstatic\s+(?:final\s+)?void\s+main\s*\(/;

/** Comments and string, text-block and char literals blanked out (same length), so names inside them do not count. */
export function stripJavaNoise(src: string): string {
  return src.replace(/\/\*[\s\S]*?\*\/|\/\/[^\n]*|"""[\s\S]*?"""|"(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*'/g, (m) => m.replace(/[^\n]/g, ' '));
}

/**
 * The file a Java program must be saved as and the class to run: the public top-level type names
 * the file; the type that declares `static void main` (the last type declared before it) is run.
 * Falls back to `fallback` (the profile's Main.java / Main) for names that are not plain ASCII
 * identifiers (a file name must be), or when nothing is found; javac then says what is wrong.
 */
export function detectJavaEntry(source: string, fallback: EntryPoint): EntryPoint {
  const code = stripJavaNoise(source);
  const publicType = PUBLIC_TYPE.exec(code)?.[1];
  const mainAt = code.search(MAIN);
  let mainType: string | undefined;
  if (mainAt >= 0) for (const m of code.slice(0, mainAt).matchAll(ANY_TYPE)) mainType = m[1];
  const sourceFile = publicType ? `${publicType}.java` : fallback.sourceFile;
  const mainClass = mainType ?? publicType ?? fallback.mainClass;
  const plain = /^[A-Za-z_][A-Za-z0-9_]{0,100}$/;
  if (!plain.test(sourceFile.replace(/\.java$/, '')) || !plain.test(mainClass)) return fallback;
  return { sourceFile, mainClass };
}

export function detectEntryPoint(detector: EntryPointDetector, source: string, fallback: EntryPoint): EntryPoint {
  switch (detector) {
    case 'java_class':
      return detectJavaEntry(source, fallback);
  }
}
