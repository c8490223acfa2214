// Kept while the sandbox still fills placeholders itself; plans are filled in executions/plan.ts.
import type { Limits } from '../domain/limits.js';
import { fillPlaceholders } from './placeholders.js';

export { unknownPlaceholders } from './placeholders.js';

export function fillLimits(argv: string[], limits: Limits): string[] {
  return fillPlaceholders(argv, { limits, sourceFile: '{source_file}', mainClass: '{main_class}' });
}
