// Package bouncer is the client side of CrowdSec's v1 bouncer protocol,
// shared by Phalanx's remediation components (the firewall bouncer, the
// HTTP bouncer) and usable by any Go program:
//
//   - Config: the LAPI keys of CrowdSec's bouncer configs (api_url,
//     api_key, update_frequency, scopes, origins, scenarios_containing,
//     scenarios_not_containing, cert_path, key_path, ca_cert_path,
//     insecure_skip_verify), API key or mTLS.
//   - Stream: stream mode. A startup pull, then incremental pulls every
//     update_frequency; updates are sent to the caller (the first is a
//     full snapshot) and applied to a Set. A failed pull keeps the last
//     good set; pulls are retried with exponential backoff and jitter.
//   - Live: live mode. One query per address, answers cached with a TTL;
//     a failed query serves the last cached answer.
//   - Usage metrics: a Stream reports to the LAPI (POST
//     /v1/usage-metrics) every usage_metrics_interval (default 15 min, the
//     first after one interval, as CrowdSec's bouncers) its type and
//     version (from user_agent), its active decisions by origin and
//     family, and the component's own counters (WithUsage: what it
//     dropped and processed), each window's increments once.
//   - Set: the in-memory decision set, scopes Ip and Range, IPv4 and IPv6
//     (IPv4-mapped IPv6 normalised), Contains in tens of nanoseconds with
//     a million decisions.
package bouncer
