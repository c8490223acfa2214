import { Type, type Static } from '@sinclair/typebox';

export const EventsHeaders = Type.Object({
  'last-event-id': Type.Optional(Type.String({ maxLength: 40, description: 'Resume after this event (sent by EventSource on reconnect)' })),
});
export type EventsHeaders = Static<typeof EventsHeaders>;

export const EventsQuery = Type.Object({
  last_event_id: Type.Optional(Type.String({ maxLength: 40, description: 'The same as the Last-Event-ID header, for clients that cannot set headers' })),
});
export type EventsQuery = Static<typeof EventsQuery>;

export const EVENTS_DESCRIPTION =
  'Server-Sent Events (text/event-stream) of one execution, as they happen, wherever it runs: `state` ' +
  '({execution_id, status, attempt, queued_at, started_at, finished_at}) at the start and at each change; `output` ' +
  '({stream: stdout|stderr, text, attempt, case, case_name}: what the program printed, within the same caps as the stored output); ' +
  'with test cases, `case_started` ({case, name, hidden, attempt}) and `case_finished` ({case, attempt, ...the case\'s result}) per case ' +
  '(a hidden case\'s output is never sent, only its status); then `result` (the same JSON as GET /executions/{execution_id}) and the ' +
  'stream ends. A `state` with a higher `attempt` means the run started again (a failure on our side): drop the earlier output. ' +
  'Output and case events carry an `id`; reconnect with Last-Event-ID (EventSource does) to resume after it. A comment line ' +
  '(`: heartbeat`) comes every CODEXEC_EVENTS_HEARTBEAT_MS. A reader that falls more than CODEXEC_EVENTS_READER_BUFFER_BYTES ' +
  'behind is disconnected (the run goes on; reconnect to resume). Output events of a run nobody watched while it ran come from its ' +
  'stored result. 404 for an unknown execution; 503 too_many_event_streams beyond CODEXEC_EVENTS_MAX_READERS streams.';
