import type { FastifySchemaCompiler, FastifyTypeProvider } from 'fastify';
import { FormatRegistry, type Static, type TSchema } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { Value } from '@sinclair/typebox/value';

// Route schemas are TypeBox types: the same object is the JSON schema Fastify validates with, the
// OpenAPI document shows, and (through Static<>) the TypeScript type of the handler's request and
// reply. This is what @fastify/type-provider-typebox provides, in the few lines we need.
export interface TypeBoxTypeProvider extends FastifyTypeProvider {
  validator: this['schema'] extends TSchema ? Static<this['schema']> : unknown;
  serializer: this['schema'] extends TSchema ? Static<this['schema']> : unknown;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
if (!FormatRegistry.Has('uuid')) FormatRegistry.Set('uuid', (v) => UUID.test(v));

/** One validation problem, in the shape Fastify attaches to its FST_ERR_VALIDATION error. */
export interface ValidationProblem {
  instancePath: string;
  message: string;
  keyword: string;
  schemaPath: string;
  params: Record<string, unknown>;
}

const INTEGER = /^-?\d+$/;

/**
 * Query and path values are strings: convert them to the declared types, except that an integer
 * field takes only digits (TypeBox's conversion would turn "1.5" and "1e3" into 1: such
 * a value stays a string, and the check refuses it).
 */
function convertStrings(schema: TSchema, input: unknown): unknown {
  // Convert may change the object in place: keep the strings as they came.
  const raw = typeof input === 'object' && input !== null ? { ...(input as Record<string, unknown>) } : {};
  const value = Value.Convert(schema, input);
  const props = (schema as { properties?: Record<string, { type?: string }> }).properties;
  if (!props || typeof value !== 'object' || value === null) return value;
  for (const [key, prop] of Object.entries(props)) {
    if (prop.type === 'integer' && typeof raw[key] === 'string' && !INTEGER.test(raw[key] as string)) (value as Record<string, unknown>)[key] = raw[key];
  }
  return value;
}

// Validates with TypeBox's compiled checker instead of Fastify's default Ajv, whose defaults
// coerce types (`{"source_code": 123}` would become "123", `["x"]` would become "x"). Bodies are
// checked strictly, as sent; querystrings and params arrive as strings, so they are converted to
// the declared types (`?limit=5` -> 5) before the check. Only the first problem is reported:
// collecting every error of a hostile document costs time for nothing.
export const typeBoxValidatorCompiler: FastifySchemaCompiler<TSchema> = ({ schema, httpPart }) => {
  const check = TypeCompiler.Compile(schema);
  const convert = httpPart === 'querystring' || httpPart === 'params';
  return (input: unknown) => {
    const value = convert ? convertStrings(schema, input) : input;
    if (check.Check(value)) return convert ? { value } : true;
    const first = check.Errors(value).First();
    const problem: ValidationProblem = {
      instancePath: first?.path ?? '',
      message: first?.message ?? 'invalid value',
      keyword: String(first?.type ?? 'invalid'),
      schemaPath: '',
      params: {},
    };
    return { error: [problem] as unknown as Error };
  };
};
