/**
 * The OpenAPI document, generated from the zod schemas on the routes
 * (fastify-type-provider-zod's transform), and Swagger UI at /docs.
 * Registered before the routes so that its onRoute hook sees all of them.
 */
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { jsonSchemaTransform } from 'fastify-type-provider-zod'

export const swaggerPlugin = fp(async (fastify: FastifyInstance) => {
  await fastify.register(swagger, {
    openapi: {
      info: { title: 'spotfleet', description: 'Spot-instance replicas and failover: the client and operator API', version: '1.0.0' },
      components: {
        securitySchemes: {
          clientToken: { type: 'http', scheme: 'bearer', description: 'a client token (spotfleet client create)' },
          operatorToken: { type: 'http', scheme: 'bearer', description: 'OPERATOR_TOKEN' },
        },
      },
    },
    transform: jsonSchemaTransform,
  })
  await fastify.register(swaggerUi, { routePrefix: '/docs' })
}, { name: 'swagger', fastify: '5.x' })
