import { Type, type Static, type TSchema, type TUnsafe } from '@sinclair/typebox';
import { EXECUTION_STATUSES } from '../../domain/states.js';
import { SESSION_STATUSES } from '../../sessions/session.js';

/** The one error shape every route answers with. */
export const ErrorResponse = Type.Object(
  {
    error: Type.Object({
      code: Type.String({ description: 'Stable machine-readable code (see the README\'s error table)' }),
      message: Type.String({ description: 'Human-readable explanation' }),
      details: Type.Optional(Type.Object({}, { additionalProperties: true, description: 'Code-specific facts, e.g. the stored revision or the limit hit' })),
    }),
  },
  { description: 'Error: {"error": {"code", "message", "details"?}}' },
);
export type ErrorResponse = Static<typeof ErrorResponse>;

/** Error responses of a route, by status. */
export function errors<S extends number>(...statuses: S[]): Record<S, typeof ErrorResponse> {
  return Object.fromEntries(statuses.map((s) => [s, ErrorResponse])) as Record<S, typeof ErrorResponse>;
}

/**
 * A response field that may be null, as `type: [T, "null"]` (which the serializer writes
 * directly and @fastify/swagger turns into OpenAPI's `nullable`). Response schemas only:
 * request bodies never accept null.
 */
export function Nullable<T extends TSchema>(schema: T): TUnsafe<Static<T> | null> {
  const { type, ...rest } = schema as unknown as { type: string } & Record<string, unknown>;
  return Type.Unsafe<Static<T> | null>({ ...rest, type: [type, 'null'] });
}

export const Timestamp = Type.String({ format: 'date-time', description: 'ISO 8601, UTC' });
export const NullableTimestamp = Nullable(Timestamp);

// Ids are UUIDs. Any other string names no resource: the route answers 404, like an unknown id.
export const Uuid = Type.String({ format: 'uuid', maxLength: 36 });

export const SessionIdParams = Type.Object({ session_id: Uuid });
export type SessionIdParams = Static<typeof SessionIdParams>;
export const ExecutionIdParams = Type.Object({ execution_id: Uuid });
export type ExecutionIdParams = Static<typeof ExecutionIdParams>;

/** A string enum as `{type: "string", enum: [...]}`: one branch for the serializer, not an anyOf. */
export function StringEnum<const T extends readonly string[]>(values: T, options: { description?: string } = {}): TUnsafe<T[number]> {
  return Type.Unsafe<T[number]>({ type: 'string', enum: [...values], ...options });
}

export const SessionStatus = StringEnum(SESSION_STATUSES);
export const ExecutionStatus = StringEnum(EXECUTION_STATUSES);
