import { Type, type Static } from '@sinclair/typebox';
import { Nullable, NullableTimestamp, SessionStatus, Timestamp, Uuid } from './common.js';

const Language = Type.String({ minLength: 1, maxLength: 64, description: 'A language id or alias from GET /languages' });
const SourceCode = Type.String({ description: 'The learner\'s code; at most CODEXEC_MAX_SOURCE_BYTES bytes of UTF-8 (413 source_too_large)' });
const Revision = Type.Integer({
  minimum: 0,
  maximum: Number.MAX_SAFE_INTEGER,
  description: 'Revision of the stored code: 0 at creation, +1 per accepted autosave unless the client sends its own',
});

export const CreateSessionBody = Type.Object(
  {
    language: Language,
    source_code: Type.Optional(Type.String({ description: 'Initial code; when absent the session starts from the language\'s template' })),
  },
  { additionalProperties: false },
);
export type CreateSessionBody = Static<typeof CreateSessionBody>;

export const SessionResponse = Type.Object({
  session_id: Uuid,
  status: SessionStatus,
  language: Type.String(),
  revision: Revision,
  source_code: SourceCode,
  created_at: Timestamp,
  updated_at: Timestamp,
  last_run_at: NullableTimestamp,
  expires_at: Nullable(Type.String({ format: 'date-time', description: 'When the session expires if left idle (null once closed)' })),
});
export type SessionResponse = Static<typeof SessionResponse>;

export const AutosaveBody = Type.Object(
  {
    language: Type.Optional(Language),
    source_code: Type.Optional(SourceCode),
    revision: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: Number.MAX_SAFE_INTEGER,
        description:
          'The client\'s revision of this code, increasing with every edit. It must be greater than the stored revision, ' +
          'which it becomes; a late autosave (older or equal revision) is refused with 409 stale_revision and overwrites nothing.',
      }),
    ),
  },
  { additionalProperties: false },
);
export type AutosaveBody = Static<typeof AutosaveBody>;

export const AutosaveHeaders = Type.Object({
  'if-match': Type.Optional(
    Type.String({
      maxLength: 64,
      description: 'The revision this edit was based on, as the ETag "<revision>" of the last response: applied only if it is still the stored one (then stored + 1)',
    }),
  ),
});
export type AutosaveHeaders = Static<typeof AutosaveHeaders>;

export const AutosaveResponse = Type.Object({
  session_id: Uuid,
  status: SessionStatus,
  language: Type.String(),
  revision: Revision,
  updated_at: Timestamp,
});
export type AutosaveResponse = Static<typeof AutosaveResponse>;

export const CloseSessionResponse = Type.Object({
  session_id: Uuid,
  status: SessionStatus,
  cancelled_executions: Type.Integer({ minimum: 0, description: 'QUEUED executions of this session that were canceled (FAILED, failure_reason canceled)' }),
});
export type CloseSessionResponse = Static<typeof CloseSessionResponse>;
