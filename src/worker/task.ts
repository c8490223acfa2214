import type { Limits } from '../domain/limits.js';
import type { LanguageProfile } from '../languages/profile.js';

/** Everything a sandbox run needs, as plain data (it crosses into a pool thread). */
export interface SandboxTask {
  executionId: string;
  profile: LanguageProfile;
  sourceCode: string;
  stdin: string;
  runLimits: Limits;
  compileLimits: Limits | null;
}
