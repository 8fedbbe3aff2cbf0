/**
 * The response serializer: fast-json-stringify compiled, once per route and
 * status, from the JSON Schema of the route's zod response schema (the same
 * schema the OpenAPI document shows). It writes only the declared fields in
 * one pass, where the type provider's serializer re-parses every row with
 * zod before JSON.stringify: the Replicas tab's thousand rows cost more in
 * zod than in the query. With `check` on (tests) each response is also
 * parsed by its zod schema first, so a route that answers something its
 * schema does not allow fails loudly there.
 */
import type { FastifySchemaCompiler } from 'fastify'
import fastJson from 'fast-json-stringify'
import { ResponseSerializationError } from 'fastify-type-provider-zod'
import { z } from 'zod'

type SerializerCompiler = (route: Parameters<FastifySchemaCompiler<unknown>>[0]) => (data: unknown) => string

export function zodFastSerializer(check: boolean): SerializerCompiler {
  return ({ schema, method, url }) => {
    if (!(schema instanceof z.ZodType)) throw new Error(`${method} ${url}: a response schema must be a zod schema`)
    // Zod never writes if/then/else for these schemas; fast-json-stringify's types do not take a boolean there.
    const { if: conditional, then: consequent, else: alternative, ...json } = z.toJSONSchema(schema, { target: 'draft-7', io: 'output' })
    if (conditional !== undefined || consequent !== undefined || alternative !== undefined) throw new Error(`${method} ${url}: a response schema with if/then/else`)
    const spec: fastJson.AnySchema = json
    const stringify = fastJson(spec)
    if (!check) return (data) => stringify(data)
    return (data) => {
      const parsed = schema.safeParse(data)
      if (!parsed.success) throw new ResponseSerializationError(method, url, { cause: parsed.error })
      return stringify(data)
    }
  }
}
