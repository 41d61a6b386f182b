// Package capi is the install side of community sharing: the client of a
// central API speaking CrowdSec's CAPI v3 (shared/contracts/capi-swagger.yaml),
// the credentials and consent files, the signal outbox pusher and the
// community-blocklist puller that turns the central's stream into decisions
// of origin CAPI and lists. See README.md.
package capi
