// The compatible APIs (CODEXEC_COMPAT): thin adapters over the one submit path for clients of
// Judge0 CE and Piston v2. buildApp registers each one that is enabled:
//   judge0Api under /judge0, pistonApi under /api/v2 (see docs/compat.md for what differs).
export { judge0Api } from './judge0/routes.js';
export { pistonApi } from './piston/routes.js';
