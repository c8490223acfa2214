// The HTTP API: build it with buildApp(deps); the serve command listens and shuts it down.
export { buildApp } from './app.js';
export { serverOptions, MAX_HEADER_BYTES, MAX_PARAM_LENGTH } from './server-options.js';
export { ERROR_CODES, type ErrorCode, type ErrorCodeInfo } from './error-codes.js';
export type { App, AppControl, AppDeps, IsolationInfo } from './context.js';
