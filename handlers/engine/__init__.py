"""The balena state engine: target in, compose configs, step inference and execution, images, locks,
logs, status, and the device report, power and terminal actions built on its apps.

May import: handlers' shared modules (errors, store, jsvalues, redact, docker) and handlers.host.
Never handlers.hardware, handlers.accounts, compat or starlette.
"""
