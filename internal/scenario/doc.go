// Package scenario loads CrowdSec scenarios (bucket specs) and runs events
// through their buckets: leaky, trigger, counter, conditional and bayesian
// buckets, distinct, cancel_on, blackhole, overflow_filter, reprocess, and
// the overflow turned into alerts in the Local API's shape.
//
// # From a grok capture to a scenario's groupby
//
// Take the nginx access line `1.2.3.4 - - [...] "GET /.env HTTP/1.1" 404 ...`
// and the scenario crowdsecurity/http-sensitive-files (filter
// `evt.Meta.log_type in ["http_access-log", "http_error-log"] and any(File(...), ...)`, groupby
// `evt.Meta.source_ip`):
//
//  0. Load (package content). One event.Schema is made for the loaded
//     content; while package parse compiles the parsers, every field name
//     they write or read gets a slot in it, one numbering per part of the
//     event (event.Part: Parsed, Meta, Enriched): each grok pattern's
//     capture names (Parsed `remote_addr` is slot 3, say), the `parsed:`,
//     `meta:` and `enriched:` statics (Meta `source_ip` is slot 0), the
//     apply_on fields and the evt.Parsed.x / evt.Meta.y that natexpr
//     compiles natively. The schema is frozen before events flow; what
//     loads later (scenarios) only looks names up. Events are created by
//     the schema (Schema.New): each part's fields are words indexed by
//     slot (0: absent, so an absent field differs from an empty one, as a
//     map key does for expr's `in`); a word holds no pointer: a value
//     inside the event's line (a grok capture, a field copied from one) is
//     its offset and length there, any other an index of a string kept
//     aside, plus a small map for names
//     that only appear at run time (SetMeta with a computed key, an
//     enricher's output).
//  1. Parse (package parse). The nginx parser node's grok pattern matches
//     and hands its captures by index (grok.Pattern.MatchEach); the node
//     writes them in one call (Event.SetAll with an event.KeyList, the
//     captures' keys resolved at load): capture i to its slot,
//     `remote_addr` = "1.2.3.4" into Parsed slot 3, no map, no hashing.
//     The node's statics then copy it: `meta: source_ip, expression:
//     evt.Parsed.remote_addr` is compiled to a copy of Parsed slot 3's
//     word to Meta slot 0 (Event.Copy with an event.FieldCopy);
//     `meta: log_type, value: http_access-log` sets another Meta slot.
//     Enrichers (package enrich) add evt.Enriched fields (GeoIP, ...) and
//     evt.MarshaledTime, the time a replay follows. The maps hub
//     expressions know as evt.Parsed, evt.Meta and evt.Enriched (the
//     event's views, ParsedView, MetaView and EnrichedView, shown to expr
//     under those names) are built from the slots only when an expr VM
//     program runs on the event (Event.ExposeAll), when something keeps
//     the event whole (Clone, hubtest's dumps) or asks for a part
//     (Event.Map: explain's diffs).
//  2. Read ahead (package detect, in the parse workers). When this package
//     compiled the scenarios, natexpr numbered every field that native code
//     reads (a Table: Meta.log_type for the index, Meta.source_ip for the
//     groupby, ...), each resolved to its slot in the frozen schema.
//     Engine.ReadFields copies those fields out of the event's slots into
//     a []string by field number, once per event, in parallel.
//  3. Pour (Engine.PourFields). The event, its field vector and its time go
//     in batches to the workers; each worker owns some scenarios and all
//     their buckets. The worker's index (bitsets per value of each indexed
//     field: every `field == 'v'` / `field in [...]` conjunct of a filter,
//     natexpr.Preds) selects the scenarios whose filter can be true: an
//     event with Meta.log_type "http_access-log" never reaches the ssh
//     scenarios, one with http_status 200 not those that want a 404.
//  4. Filter. Each selected scenario's filter is one compiled expression
//     (filterExpr): native code over the field vector when natexpr could
//     compile it, else the expr VM on FilterEnv{Evt: evt}. Native code
//     checks only what the index left (natexpr.Residual: the filter less
//     the conjuncts the index checked; nothing at all for a filter made of
//     such conjuncts), in one call from the worker's loop, unless the
//     worker's prefilter (natexpr.Prefilter, over the filters' Guards)
//     finds a literal the filter needs absent from the event: one
//     Aho-Corasick pass per field (and transform) for all the worker's
//     filters tells an ordinary request from a CVE probe; the filters
//     whose first guard fails leave the index's selection before the
//     loop, as bitsets (Prefilter.Select). The poured
//     event is shared by the workers and never written, so a VM program
//     that reads evt.Parsed, evt.Meta or evt.Enriched as a map
//     (readsViews, decided at load) gets a copy of the event with views
//     built by its worker (worker.forVM, once per event); a scenario that
//     writes to events (SetMeta, SetParsed) runs its filter on the
//     worker's scratch copy, its written fields its own, its views in the
//     worker's maps (worker.scratchForWrite), and an event it accepts goes
//     on as a private copy of that (ownCopy); whole events kept in
//     queues for such programs get their views when poured
//     (Engine.Prepare).
//  5. Groupby. The scenario's groupby (strExpr), native when it can be,
//     reads field Meta.source_ip from the vector: "1.2.3.4" is the
//     partition. A groupby such as http-crawl-non_statics'
//     `evt.Meta.source_ip + '/' + evt.Parsed.target_fqdn` reads the parsed
//     field by name from the event's slots (Event.Lookup). The bucket is
//     found by (scenario, partition): one bucket
//     per source address. Its CrowdSec bucket key (mapkey) is SHA1 of the
//     filter, the partition and the name.
//  6. Queue. The bucket keeps an item for the event (worker.go, view.go):
//     its Meta, Enriched and time packed in a record (record.go: the names
//     and values read from the event's slots, Event.Each), not the whole
//     event; once a newer event comes, the older one is kept as a delta
//     against it (queue.go). When it overflows,
//     the items become the alert's events and source (alert.go), and the
//     engine hands an Overflow to its OnOverflow callback (package detect
//     runs the postoverflows on its Event and makes the alerts).
//
// # Files
//
// spec.go: the YAML config type (Spec) and its validation; load.go:
// compilation into runtime scenarios (scen) and the Set; expr.go: the
// compiled expressions; engine.go: the Engine, its batches and workers'
// wiring; worker.go: buckets and the pour; view.go: what buckets keep of
// events; record.go: how they keep it; queue.go: a bucket's queue, older
// events as deltas; alert.go: overflow to alert.
package scenario
