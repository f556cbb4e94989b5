import type { ApiMiddleware } from 'motia'

// The token API clients send as `Authorization: Bearer <token>`. Set
// HELPDESK_API_TOKEN in the shell or in .env; `dev-token` is for trying it out.
const expectedToken = () => process.env.HELPDESK_API_TOKEN || 'dev-token'

/**
 * Answers 401 unless the request carries the API token. Runs before the body
 * is looked at, so an anonymous caller learns nothing about the body schema.
 */
export const authMiddleware: ApiMiddleware = async (req, { logger }, next) => {
  const header = req.headers.authorization
  const token = typeof header === 'string' && header.startsWith('Bearer ') ? header.slice(7) : undefined

  if (token !== expectedToken()) {
    logger.warn('Rejected a request without a valid API token', { path: req.path })
    return { status: 401, body: { error: 'Unauthorized', message: 'Send Authorization: Bearer <token>' } }
  }

  return next()
}
