import type { LanguageRegistry } from '../../../languages/registry.js';
import { CodexecError } from '../../../domain/errors.js';
import { numericVersion } from '../version.js';

// Judge0's numeric language ids for codexec's languages. Judge0 CE has one id per toolchain
// version ("Python (3.8.1)" is 71, "Python (3.11.2)" is 92, ...); codexec runs one version of each
// language, so every Judge0 id of a language runs that one. GET /judge0/languages lists one id per
// language (the one of Judge0 CE 1.13, which most clients have hard-coded) named with the version
// installed here; the newer ids are accepted too. Ids of other languages, of Python 2 (70) and of
// Clang (75, 76, 104, 110: another compiler) are refused. A language an operator adds to
// sandbox-profiles/ has no Judge0 id until it is added here.

interface Judge0Language {
  /** codexec's language id (sandbox-profiles/languages/ID.json). */
  language: string;
  /** The id listed and shown as a submission's language_id. */
  id: number;
  /** Judge0's name, with %s for the version. */
  name: string;
  /** Judge0 ids of other versions of the language, accepted as well. */
  alsoAccepted: number[];
}

export const JUDGE0_LANGUAGES: readonly Judge0Language[] = [
  { language: 'bash', id: 46, name: 'Bash (%s)', alsoAccepted: [] },
  { language: 'c', id: 50, name: 'C (GCC %s)', alsoAccepted: [48, 49, 103] },
  { language: 'cpp', id: 54, name: 'C++ (GCC %s)', alsoAccepted: [52, 53, 105] },
  { language: 'go', id: 60, name: 'Go (%s)', alsoAccepted: [95, 106, 107] },
  { language: 'java', id: 62, name: 'Java (OpenJDK %s)', alsoAccepted: [91] },
  { language: 'javascript', id: 63, name: 'JavaScript (Node.js %s)', alsoAccepted: [93, 97, 102] },
  { language: 'perl', id: 85, name: 'Perl (%s)', alsoAccepted: [] },
  { language: 'php', id: 68, name: 'PHP (%s)', alsoAccepted: [98] },
  { language: 'python', id: 71, name: 'Python (%s)', alsoAccepted: [92, 100, 109] },
  { language: 'ruby', id: 72, name: 'Ruby (%s)', alsoAccepted: [] },
  { language: 'rust', id: 73, name: 'Rust (%s)', alsoAccepted: [108] },
  { language: 'typescript', id: 74, name: 'TypeScript (%s)', alsoAccepted: [94, 101] },
];

const BY_ID = new Map<number, Judge0Language>(JUDGE0_LANGUAGES.flatMap((l) => [l.id, ...l.alsoAccepted].map((id) => [id, l] as const)));
const BY_LANGUAGE = new Map(JUDGE0_LANGUAGES.map((l) => [l.language, l]));

/** codexec's language for a Judge0 language_id; 422 unsupported_language for any other id. */
export function languageOfJudge0Id(id: number, languages: Pick<LanguageRegistry, 'find'>): string {
  const entry = BY_ID.get(id);
  if (!entry || !languages.find(entry.language)) {
    throw new CodexecError('unsupported_language', 422, `language with id ${id} doesn't exist here (GET /judge0/languages lists them)`, {
      details: { field: 'language_id', language_id: id },
    });
  }
  return entry.language;
}

/** The Judge0 id shown for an execution in codexec's `language`; null for one with none. */
export function judge0IdOf(language: string): number | null {
  return BY_LANGUAGE.get(language)?.id ?? null;
}

/** GET /judge0/languages: one entry per language installed here, by name like Judge0. */
export function judge0LanguageList(languages: Pick<LanguageRegistry, 'find'>): { id: number; name: string }[] {
  return JUDGE0_LANGUAGES.flatMap((l) => {
    const p = languages.find(l.language);
    return p?.available ? [{ id: l.id, name: l.name.replace('%s', numericVersion(p.version)) }] : [];
  }).sort((a, b) => a.name.localeCompare(b.name));
}

/** The name of the language of `language_id` as the list shows it, or null. */
export function judge0NameOf(language: string, languages: Pick<LanguageRegistry, 'find'>): string | null {
  const entry = BY_LANGUAGE.get(language);
  const p = languages.find(language);
  return entry && p ? entry.name.replace('%s', numericVersion(p.version)) : null;
}
