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

interface TypeSpan {
  name: string;
  /** Index of its body's opening brace and of the matching closing one. */
  open: number;
  close: number;
}

/** Every type declaration with the span of its body (braces matched on comment- and string-free code). */
function typeSpans(code: string): TypeSpan[] {
  const spans: TypeSpan[] = [];
  for (const m of code.matchAll(ANY_TYPE)) {
    const open = code.indexOf('{', m.index! + m[0].length);
    if (open < 0) continue;
    let depth = 0;
    let close = code.length;
    for (let i = open; i < code.length; i++) {
      if (code[i] === '{') depth++;
      else if (code[i] === '}' && --depth === 0) {
        close = i;
        break;
      }
    }
    spans.push({ name: m[1]!, open, close });
  }
  return spans;
}

/**
 * The file a Java program must be saved as and the class to run: the public top-level type names
 * the file; the type whose body declares `static void main` is run (a nested one by its binary
 * name, Outer$Inner). Falls back to `fallback` (the profile's Main.java / Main) for names that are
 * not plain ASCII identifiers (a file name must be), or when nothing is found; javac then says
 * what is wrong.
 */
export function detectJavaEntry(source: string, fallback: EntryPoint): EntryPoint {
  const code = stripJavaNoise(source);
  const publicType = PUBLIC_TYPE.exec(code)?.[1];
  const mainAt = code.search(MAIN);
  let mainClass: string | undefined;
  if (mainAt >= 0) {
    const enclosing = typeSpans(code).filter((t) => t.open < mainAt && mainAt < t.close);
    if (enclosing.length > 0) mainClass = enclosing.map((t) => t.name).join('$');
  }
  const sourceFile = publicType ? `${publicType}.java` : fallback.sourceFile;
  mainClass ??= publicType ?? fallback.mainClass;
  const plain = /^[A-Za-z_][A-Za-z0-9_]{0,100}$/;
  if (!plain.test(sourceFile.replace(/\.java$/, '')) || !mainClass.split('$').every((n) => plain.test(n))) return fallback;
  return { sourceFile, mainClass };
}

export function detectEntryPoint(detector: EntryPointDetector, source: string, fallback: EntryPoint): EntryPoint {
  switch (detector) {
    case 'java_class':
      return detectJavaEntry(source, fallback);
  }
}
