/**
 * Whose rows a request may see. The UI sends one bearer token to every
 * route: OPERATOR_TOKEN is the operator's console (every client), a client's
 * token is that client's own console (its rows only). Queries take a Scope
 * and filter by it; routes never compare client ids themselves.
 */
export type Scope = { kind: 'operator' } | { kind: 'client', clientId: string, name: string }

export const OPERATOR_SCOPE: Scope = Object.freeze({ kind: 'operator' })

/** True when `scope` may see the rows of `clientId`. */
export const sees = (scope: Scope, clientId: string): boolean => scope.kind === 'operator' || scope.clientId === clientId
