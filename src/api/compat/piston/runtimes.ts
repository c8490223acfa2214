import { CodexecError, UnsupportedFieldError } from '../../../domain/errors.js';
import type { LanguageProfile } from '../../../languages/profile.js';
import type { LanguageRegistry } from '../../../languages/registry.js';
import { numericVersion } from '../version.js';

// codexec's languages as Piston runtimes. Piston names C++ "c++" (codexec: "cpp", which stays an
// alias); every other language keeps codexec's id, so one an operator adds is a runtime too. A
// runtime's version is the toolchain's, as probed (its leading dotted number). A request's
// version is "*" or a selector of that version: exact ("3.11.2"), a prefix ("3.11", "3") or with
// x / * parts ("3.x", "3.11.*"). Ranges (^, ~, >=) are refused rather than guessed.

const PISTON_NAME: Record<string, string> = { cpp: 'c++' };

export interface PistonRuntime {
  language: string;
  version: string;
  aliases: string[];
}

export function pistonNameOf(language: string): string {
  return PISTON_NAME[language] ?? language;
}

function runtimeOf(p: LanguageProfile): PistonRuntime {
  const name = pistonNameOf(p.id);
  return { language: name, version: numericVersion(p.version), aliases: [...(name === p.id ? [] : [p.id]), ...p.aliases.filter((a) => a !== name)] };
}

/** GET /api/v2/runtimes: the languages whose toolchain is installed here. */
export function pistonRuntimes(languages: Pick<LanguageRegistry, 'list'>): PistonRuntime[] {
  return languages.list().filter((p) => p.available).map(runtimeOf);
}

const SELECTOR = /^(?:\d+|[xX*])(?:\.(?:\d+|[xX*]))*$/;

/** Whether `version` is one `selector` chooses. */
export function versionMatches(selector: string, version: string): boolean {
  const s = selector.trim();
  if (s === '' || s === '*' || s === 'x' || s === 'X') return true;
  if (!SELECTOR.test(s)) {
    throw new UnsupportedFieldError('version', `${JSON.stringify(s.slice(0, 40))}: codexec matches "*", a version or a prefix of one ("3.11", "3.x"), not ranges`);
  }
  const want = s.split('.');
  const have = version.split('.');
  if (want.length > have.length) return false;
  return want.every((part, i) => /^[xX*]$/.test(part) || part === have[i]);
}

/** codexec's language for a Piston language (name or alias) and version selector; 422 when none. */
export function resolveRuntime(language: string, version: string | undefined, languages: Pick<LanguageRegistry, 'find'>): LanguageProfile {
  const wanted = language.trim().toLowerCase();
  const id = Object.entries(PISTON_NAME).find(([, name]) => name === wanted)?.[0] ?? wanted;
  const p = languages.find(id);
  const selector = version ?? '*';
  if (!p?.available || !versionMatches(selector, numericVersion(p.version))) {
    const have = p?.available ? ` (this host has ${pistonNameOf(p.id)} ${numericVersion(p.version)})` : '';
    throw new CodexecError('unsupported_language', 422, `${language}-${selector} runtime is unknown${have}; GET /api/v2/runtimes lists them`, {
      details: { language, version: selector },
    });
  }
  return p;
}
