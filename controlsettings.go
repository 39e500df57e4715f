package main

// controlSettings are the settings that protect orders from retries,
// concurrent edits and greedy callers (docs/configuration.md).
func controlSettings() []setting {
	return []setting{
		{env: "ORDERS_REQUIRE_IF_MATCH", flag: "require-if-match", def: "false", doc: "true makes a change of an order (PUT, DELETE, pay, cancel) without If-Match a 428",
			apply: boolean(func(v *values) *bool { return &v.cfg.api.RequireIfMatch })},
	}
}
