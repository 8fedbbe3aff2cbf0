/**
 * Response shapes shared by the console's admin pages and the client view
 * (the UI's field names): a client row, an instance row and the instance
 * filters the UI sends (its `ondemand` is stored `on-demand`).
 */
import { z } from 'zod'
import type { Mode } from '../db/database.js'

const iso = z.string().nullable()
const money = z.number().nullable()

export const ConsoleClientJson = z.object({
  id: z.string(), name: z.string(), email: z.string().nullable(), status: z.enum(['active', 'inactive']),
  instances: z.int(), agentsOnline: z.int(), agentsTotal: z.int(), totalSavings: z.number(), lastSync: iso, createdAt: iso,
})

export const ConsoleInstanceJson = z.object({
  id: z.string(), agentId: z.string().nullable(), clientId: z.string(), clientName: z.string(), status: z.enum(['active', 'terminated']),
  instanceType: z.string().nullable(), region: z.string().nullable(), az: z.string().nullable(), poolId: z.string().nullable(),
  currentMode: z.string(), spotPrice: money, ondemandPrice: money, lastSwitch: iso,
})

export const InstanceQuery = z.object({
  status: z.enum(['active', 'terminated', 'all']).optional(),
  mode: z.enum(['spot', 'ondemand', 'on-demand', 'all']).optional(),
  search: z.string().max(200).optional(),
})

export const modeOf = (m: z.infer<typeof InstanceQuery>['mode']): Mode | undefined =>
  m === undefined || m === 'all' ? undefined : m === 'spot' ? 'spot' : 'on-demand'
