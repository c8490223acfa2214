import { NotFoundError } from '../../domain/errors.js';
import type { App, RouteContext } from '../context.js';
import { autosaveView, sessionView } from '../views.js';
import { perMinute } from '../rate-limits.js';
import { canSee, ownerOf } from '../ownership.js';
import { assertFaithfulText } from '../../domain/text.js';
import { assertMaxBytes, parseIfMatch, revisionETag } from '../request-limits.js';
import { SessionIdParams, errors } from '../schemas/common.js';
import {
  AutosaveBody,
  AutosaveHeaders,
  AutosaveResponse,
  CloseSessionResponse,
  CreateSessionBody,
  SessionResponse,
} from '../schemas/sessions.js';

const TAGS = ['sessions'];

export function sessionRoutes(app: App, ctx: RouteContext): void {
  const { config, sessions, languages, jobs } = ctx;

  app.post(
    '/code-sessions',
    {
      // Each session is stored until its idle TTL and retention pass: creation is bounded per client.
      config: perMinute(config.rateLimitSessionsPerMinute),
      schema: {
        tags: TAGS,
        summary: 'Create a live coding session',
        description:
          'Starts a session in `language` with `source_code`, or with the language\'s template when it is absent. With API keys, the ' +
          'session is the key\'s: other keys get 404 for it; a key with a quota of open sessions gets 429 `quota_exceeded` ' +
          '(details.quota `sessions`) while it has that many ACTIVE sessions.',
        body: CreateSessionBody,
        response: { 201: SessionResponse, ...errors(400, 413, 415, 422, 429, 500, 503) },
      },
    },
    async (req, reply) => {
      const profile = languages.resolve(req.body.language);
      assertMaxBytes(req.body.source_code, config.maxSourceBytes, 'source_too_large');
      assertFaithfulText(req.body.source_code, 'source_code');
      const session = await sessions.create({
        language: profile.id,
        sourceCode: req.body.source_code ?? profile.template,
        owner: ownerOf(req),
        maxOpenForOwner: req.apiKey?.quotas.sessions ?? undefined,
      });
      req.log.info({ session_id: session.id, language: session.language }, 'session created');
      return reply.code(201).header('etag', revisionETag(session.revision)).send(sessionView(session, config.sessionIdleTtlMs));
    },
  );

  app.get(
    '/code-sessions/:session_id',
    {
      schema: {
        tags: TAGS,
        summary: 'Get a session with its current code',
        description: 'Also answers for CLOSED and EXPIRED sessions until they are deleted (after CODEXEC_RETENTION_MS).',
        params: SessionIdParams,
        response: { 200: SessionResponse, ...errors(400, 404, 500, 503) },
      },
    },
    async (req, reply) => {
      const session = await sessions.get(req.params.session_id.toLowerCase());
      if (!session || !canSee(req, session)) throw new NotFoundError('session', req.params.session_id);
      return reply.header('etag', revisionETag(session.revision)).send(sessionView(session, config.sessionIdleTtlMs));
    },
  );

  app.patch(
    '/code-sessions/:session_id',
    {
      config: perMinute(config.rateLimitAutosavesPerMinute),
      schema: {
        tags: TAGS,
        summary: 'Autosave the learner\'s code',
        description:
          'Called many times a second while the learner types; one read and one write. ' +
          'Every accepted autosave raises the revision (by one, or to the client\'s `revision`). ' +
          'A late autosave — a `revision` not greater than the stored one, or an If-Match that is no longer the stored revision — ' +
          'is refused with 409 `stale_revision` and overwrites nothing; `error.details.revision` is the stored revision. ' +
          'Autosaves to one session are applied one at a time, in arrival order. Closed or expired sessions: 409 `session_closed`.',
        params: SessionIdParams,
        headers: AutosaveHeaders,
        body: AutosaveBody,
        response: { 200: AutosaveResponse, ...errors(400, 404, 409, 413, 415, 422, 429, 500, 503) },
      },
    },
    async (req, reply) => {
      const { body } = req;
      const ifMatchRevision = parseIfMatch(req.headers['if-match']);
      assertMaxBytes(body.source_code, config.maxSourceBytes, 'source_too_large');
      assertFaithfulText(body.source_code, 'source_code');
      const language = body.language === undefined ? undefined : languages.resolve(body.language).id;
      const session = await sessions.autosave(req.params.session_id.toLowerCase(), {
        language,
        sourceCode: body.source_code,
        revision: body.revision,
        ifMatchRevision,
        owner: ownerOf(req),
      });
      return reply.header('etag', revisionETag(session.revision)).send(autosaveView(session));
    },
  );

  app.delete(
    '/code-sessions/:session_id',
    {
      schema: {
        tags: TAGS,
        summary: 'Close a session',
        description: 'Idempotent. Its QUEUED executions are canceled (FAILED, failure_reason `canceled`); a RUNNING one finishes.',
        params: SessionIdParams,
        response: { 200: CloseSessionResponse, ...errors(400, 404, 500, 503) },
      },
    },
    async (req) => {
      const id = req.params.session_id.toLowerCase();
      const session = await sessions.closeSession(id, undefined, ownerOf(req));
      const cancelled = await jobs.cancelQueuedForSession(id);
      req.log.info({ session_id: id, cancelled_executions: cancelled }, 'session closed');
      return { session_id: session.id, status: session.status, cancelled_executions: cancelled };
    },
  );
}
