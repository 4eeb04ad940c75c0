"""The Home Assistant supervisor's domain (the hassio dialect, supervisor tag 138): Home
Assistant's token and the add-on grants the API checks, the supervisor's own settings, the Home
Assistant core container, discovery and service messages, host and hardware views in the
supervisor's terms, this binary's self-update; add-ons and snapshots arrive with part 2.

May import: handlers' shared modules (errors, store, jsvalues, redact, docker), handlers.host,
handlers.hardware and handlers.accounts. Never handlers.engine (the balena state engine), compat
or starlette.
"""
