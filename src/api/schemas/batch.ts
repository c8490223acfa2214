import { Type, type Static } from '@sinclair/typebox';
import { ErrorResponse, Uuid } from './common.js';
import { RunBody, RunResponse } from './executions.js';

/** The most runs a batch schema accepts; CODEXEC_MAX_BATCH_RUNS (default 20) is the real limit. */
export const BATCH_SCHEMA_MAX = 100;

export const BatchRun = Type.Object(
  {
    session_id: Type.Optional(Uuid),
    language: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'With source_code: a run of this code, without a session' })),
    source_code: Type.Optional(Type.String({ description: 'At most CODEXEC_MAX_SOURCE_BYTES bytes' })),
    ...RunBody.properties,
  },
  { additionalProperties: false, description: 'One run: session_id (that session\'s code), or language and source_code; then the fields of a run' },
);
export type BatchRun = Static<typeof BatchRun>;

export const BatchBody = Type.Object(
  { runs: Type.Array(BatchRun, { minItems: 1, maxItems: BATCH_SCHEMA_MAX, description: 'At most CODEXEC_MAX_BATCH_RUNS (default 20)' }) },
  { additionalProperties: false },
);
export type BatchBody = Static<typeof BatchBody>;

export const BatchHeaders = Type.Object({
  'idempotency-key': Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 200,
      description: 'Makes each run safe to retry on its own: run i gets the key "<key>:<i>", so a retried batch returns the runs that were accepted and tries again those that were refused',
    }),
  ),
});
export type BatchHeaders = Static<typeof BatchHeaders>;

export const BatchItemResult = Type.Object({
  index: Type.Integer({ minimum: 0 }),
  status: Type.Integer({ description: 'What this run alone would have been answered: 202, or the error\'s status (429, 404, 413, 503...)' }),
  execution: Type.Optional(RunResponse),
  idempotent_replayed: Type.Optional(Type.Boolean({ description: 'The run was accepted by an earlier request with the same Idempotency-Key' })),
  error: Type.Optional(ErrorResponse.properties.error),
  retry_after_seconds: Type.Optional(Type.Integer({ minimum: 1, description: 'For a refusal that a later retry may pass (rate limits, quotas, a full queue)' })),
});
export type BatchItemResult = Static<typeof BatchItemResult>;

export const BatchResponse = Type.Object({
  accepted: Type.Integer({ minimum: 0 }),
  refused: Type.Integer({ minimum: 0 }),
  results: Type.Array(BatchItemResult, { description: 'One per run, in the order given' }),
});
export type BatchResponse = Static<typeof BatchResponse>;
