import fastJsonStringify, { type Schema } from 'fast-json-stringify';

type Serialize = (document: unknown) => string;
type ExternalSchemas = Record<string, unknown>;

// Compiled serializers by what they were compiled from. A process that builds the app more than
// once (the test suite builds one per file) compiles each response schema once instead of each
// time; the compiled function depends on nothing but the schemas and the options.
const compiled = new Map<string, Serialize>();

/**
 * Fastify's `schemaController.compilersFactory.buildSerializer`: fast-json-stringify, as Fastify
 * uses it by default, remembered per schema.
 */
export function responseSerializers() {
  return (externalSchemas: unknown, serializerOptions: unknown = {}) => {
    const shared = JSON.stringify([externalSchemas, serializerOptions]);
    return ({ schema }: { schema?: unknown }): Serialize => {
      const key = `${shared}\u0000${JSON.stringify(schema)}`;
      let serialize = compiled.get(key);
      if (!serialize) {
        // A schema that is itself one of the shared schemas must not be passed twice.
        const references: ExternalSchemas = { ...(externalSchemas as ExternalSchemas) };
        const id = (schema as { $id?: string }).$id;
        if (id) delete references[id];
        serialize = fastJsonStringify(schema as Schema, {
          ...(serializerOptions as Record<string, unknown>),
          schema: references as Record<string, Schema>,
        }) as Serialize;
        compiled.set(key, serialize);
      }
      return serialize;
    };
  };
}
