import { Type } from '@sinclair/typebox';
import type { FastifyRequest } from 'fastify';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { CodexecError, InvalidRequestError, NotFoundError } from '../../../domain/errors.js';
import type { ExecutionRecord } from '../../../domain/execution.js';
import type { App, RouteContext } from '../../context.js';
import { ERROR_CODE_HEADER, fieldOf, messageOf, useDialectErrors } from '../errors.js';
import { countQuotaRefusal } from '../../auth.js';
import { canSee } from '../../ownership.js';
import { CompatRuns, waitBoundMs } from '../runs.js';
import { judge0LanguageList } from './languages.js';
import { judge0Run } from './request.js';
import { isJudge0Submission, judge0View, parseFields } from './response.js';
import {
  BatchBody, BatchCreated, BatchGetQuery, BatchGetResponse, BatchSubmitQuery, GetQuery, Judge0Error, Judge0Submission, Judge0SubmissionBody,
  LanguageList, StatusList, SubmitQuery, TokenParams,
} from './schemas.js';
import { JUDGE0_STATUSES } from './statuses.js';

// The Judge0 CE subset, under /judge0 (codexec's own GET /languages is another list): a client
// points its Judge0 base URL at http://HOST:8080/judge0. A token is an execution id; every run goes
// through the one submit path with codexec's limits, queue and sandbox (../runs.ts).

const TAGS = ['judge0'];
/** Judge0's default MAX_SUBMISSION_BATCH_SIZE. */
export const MAX_BATCH = 20;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const checkSubmission = TypeCompiler.Compile(Judge0SubmissionBody);
const errorResponses = Object.fromEntries([400, 404, 413, 415, 422, 429, 500, 503].map((s) => [s, Judge0Error]));
// A batch none of whose submissions was created answers every one's error, with the first's status.
const batchErrorResponses = Object.fromEntries([400, 413, 415, 422, 429, 500, 503].map((s) => [s, Type.Union([Judge0Error, BatchCreated])]));

// Codes whose field is implied.
const FIELD_OF_CODE: Record<string, string> = {
  source_too_large: 'source_code',
  stdin_too_large: 'stdin',
  expected_output_too_large: 'expected_output',
  unsupported_language: 'language_id',
};

/** Judge0's error shapes: {"<field>": ["..."]} for a field's problem, else {"error": "..."}. */
export function judge0ErrorBody(err: CodexecError): Record<string, unknown> {
  const field = [400, 413, 422].includes(err.statusCode) ? (fieldOf(err) ?? FIELD_OF_CODE[err.code] ?? null) : null;
  return field ? { [field]: [messageOf(err, field)] } : { error: err.message };
}

/** One item of a batch, validated as POST /submissions validates its body. */
function batchItemError(item: unknown): CodexecError | null {
  if (checkSubmission.Check(item)) return null;
  const first = checkSubmission.Errors(item).First();
  const path = first?.path ?? '';
  return new InvalidRequestError(`body${path.replace(/\//g, '.')}: ${first?.message ?? 'invalid value'}`, { location: 'body', path });
}

export function judge0Api(ctx: RouteContext) {
  return async (app: App): Promise<void> => {
    const { config, jobs, languages } = ctx;
    const runs = new CompatRuns(app, ctx, 'judge0');
    useDialectErrors(app, config.maxBodyBytes, judge0ErrorBody);

    // A token of another API key is unknown, like any other (answers 404 / null).
    const find = async (req: FastifyRequest, token: string): Promise<ExecutionRecord | null> => {
      if (!UUID.test(token)) return null;
      const rec = await jobs.get(token.toLowerCase());
      return rec && isJudge0Submission(rec) && canSee(req, rec) ? rec : null;
    };

    app.post(
      '/submissions',
      {
        schema: {
          tags: TAGS,
          summary: 'Create a submission (Judge0)',
          description:
            'Answers 201 {"token"} at once; the token is the execution id. With wait=true, answers with the result, waiting at most the ' +
            'run\'s compile and run limits plus 30 s; past that, with the submission as it is then (status In Queue or Processing): poll ' +
            'GET /judge0/submissions/{token}. Fields codexec cannot honour are refused (422 unsupported_field), limits above the ' +
            'language\'s maximum too (422 limit_above_maximum). Each submission counts against CODEXEC_RATE_LIMIT_RUNS_PER_MINUTE.',
          querystring: SubmitQuery,
          body: Judge0SubmissionBody,
          response: { 201: Judge0Submission, ...errorResponses },
        },
      },
      async (req, reply) => {
        const base64 = req.query.base64_encoded === true;
        const fields = parseFields(req.query.fields);
        const submission = judge0Run(req.body, base64, languages);
        await runs.charge(req, 1);
        const { execution } = await runs.submit(req, submission);
        if (req.query.wait !== true) return reply.code(201).send({ token: execution.id });
        const done = await runs.wait(req, execution.id, waitBoundMs(execution.plan));
        return reply.code(201).send(judge0View(done, fields, base64, languages));
      },
    );

    app.get(
      '/submissions/batch',
      {
        schema: {
          tags: TAGS,
          summary: 'Get submissions (Judge0)',
          description: 'At most 20 tokens; an unknown token answers null in its place.',
          querystring: BatchGetQuery,
          response: { 200: BatchGetResponse, ...errorResponses },
        },
      },
      async (req) => {
        const fields = parseFields(req.query.fields);
        const tokens = req.query.tokens.split(',').map((t) => t.trim()).filter((t) => t !== '');
        if (tokens.length === 0) throw new InvalidRequestError('there should be at least one submission in a batch');
        if (tokens.length > MAX_BATCH) throw new InvalidRequestError(`number of submissions in a batch should be less than or equal to ${MAX_BATCH}`);
        const found = await Promise.all(tokens.map((t) => find(req, t)));
        return { submissions: found.map((e) => (e ? judge0View(e, fields, req.query.base64_encoded === true, languages) : null)) };
      },
    );

    app.post(
      '/submissions/batch',
      {
        schema: {
          tags: TAGS,
          summary: 'Create submissions (Judge0)',
          description:
            'At most 20. Answers, in order, {"token"} for each one created and the error of each one refused: 201 when at least one was ' +
            'created, else the status of the first error. Each submission counts against CODEXEC_RATE_LIMIT_RUNS_PER_MINUTE.',
          querystring: BatchSubmitQuery,
          body: BatchBody,
          response: { 201: BatchCreated, ...batchErrorResponses },
        },
      },
      async (req, reply) => {
        const items = req.body.submissions;
        if (items.length === 0) throw new InvalidRequestError('there should be at least one submission in a batch');
        if (items.length > MAX_BATCH) throw new InvalidRequestError(`number of submissions in a batch should be less than or equal to ${MAX_BATCH}`);
        await runs.charge(req, items.length);
        const answers: Record<string, unknown>[] = [];
        let firstError: CodexecError | null = null;
        for (const item of items) {
          try {
            const invalid = batchItemError(item);
            if (invalid) throw invalid;
            const { execution } = await runs.submit(req, judge0Run(item as Judge0SubmissionBody, req.query.base64_encoded === true, languages));
            answers.push({ token: execution.id });
          } catch (err) {
            if (!(err instanceof CodexecError) || (err.statusCode >= 500 && err.code !== 'queue_full')) throw err;
            countQuotaRefusal(ctx.metrics, req, err);
            firstError ??= err;
            answers.push(judge0ErrorBody(err));
          }
        }
        const created = answers.some((a) => typeof a.token === 'string');
        // Like Judge0: 201 when any was created; else the refusal's own status, with every answer.
        if (created || !firstError) return reply.code(201).send(answers);
        reply.header(ERROR_CODE_HEADER, firstError.code);
        return reply.code(firstError.statusCode as 201).send(answers);
      },
    );

    app.get(
      '/submissions/:token',
      {
        schema: {
          tags: TAGS,
          summary: 'Get a submission (Judge0)',
          description: 'Judge0\'s eight fields by default (stdout, time, memory, stderr, token, compile_output, message, status); fields=* for all.',
          params: TokenParams,
          querystring: GetQuery,
          response: { 200: Judge0Submission, ...errorResponses },
        },
      },
      async (req) => {
        const fields = parseFields(req.query.fields);
        const execution = await find(req, req.params.token);
        if (!execution) throw new NotFoundError('execution', req.params.token.slice(0, 100));
        return judge0View(execution, fields, req.query.base64_encoded === true, languages);
      },
    );

    app.get(
      '/languages',
      { schema: { tags: TAGS, summary: 'Languages by Judge0 id (Judge0)', response: { 200: LanguageList } } },
      async () => judge0LanguageList(languages),
    );

    app.get('/statuses', { schema: { tags: TAGS, summary: 'Statuses (Judge0)', response: { 200: StatusList } } }, async () => [...JUDGE0_STATUSES]);
  };
}
