// Package apiclient is the Go client of CrowdSec's v1 Local API protocol
// (shared/contracts/lapi-swagger.yaml plus /health, /v1/heartbeat and
// /v1/refresh_token). Agents push alerts with it, the CLI manages alerts,
// decisions and allowlists, bouncers pull decisions; it talks to Phalanx's
// LAPI or to CrowdSec's.
//
// One Client carries machine credentials (JWT routes), a bouncer API key
// (X-Api-Key routes), or both; each method uses the authentication its route
// needs.
//
//   - Machine auth: the first JWT call logs in (POST /v1/watchers/login with
//     machine_id, password and scenarios); the token is refreshed through
//     GET /v1/refresh_token when less than Config.RefreshBefore remains
//     (a failed refresh falls back to a login), and a 401 on a JWT call
//     causes one fresh login and one more try of that call.
//   - Retry policy: every call is tried up to RetryConfig.MaxAttempts times
//     when it fails with a retryable error (IsRetryable: transport errors,
//     timeouts of an attempt, HTTP 429 and 5xx), waiting as package retry
//     says (exponential backoff with jitter, honouring Retry-After). 4xx
//     answers, TLS certificate errors, malformed answers and the caller's
//     context ending are final. A caller with its own retry loop passes
//     SingleAttempt(ctx). POST /v1/alerts gives every alert a UUID before
//     the first attempt, so a retry after a lost answer is recognised by
//     Phalanx's LAPI (idempotent by UUID) and stores nothing twice.
//   - Errors are *Error values: operation, method, path, status, the LAPI's
//     message; errors.Is works with ErrUnauthorized, ErrForbidden and
//     ErrNotFound. Neither errors nor logs ever contain the password, the
//     API key, the registration token or a JWT.
package apiclient
