"""gosd's job scheduler API (sb-im/gosd v2.2.0, gorilla/mux and miniflux's JSON helpers): the
dialect app (dialect.py: mux's routing, the auth middleware, the error table), what every route
shares (common.py: Go's JSON, miniflux's answers, multipart bodies as gosd read them, the mux
router with `{name:regex}` parameters), and one route module per group: auth (tokens and the
user), actions (the file-backed `/api/v1/{action}/`), blobs, plans, jobs (jobs, running, cancel)
and mqtt (the key/value state gosd kept in Redis).

Its modules may import compat's shared modules (base, gohttp, gojson) and handlers (the domain is
handlers.gosd, reached through the Services fields gosd_store, gosd_runner, gosd_nodes); never
another dialect's package. dialect.py alone imports the route modules.
"""
