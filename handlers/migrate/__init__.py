"""Taking a device over from the agent polyvisor replaces, in place: read the legacy agent's data
(never writing it) and store what it means in the agent's own store, in one transaction.

balena_db.py reads the balena supervisor's SQLite database (v10 schema); balena.py maps it onto
the store; cli.py is `polyvisor migrate --from-balena <folder>`.

May import: handlers' shared modules (errors, store), handlers.engine (the target's validation and
storage) and handlers.host (identity, host files). Nothing imports it but app.py's command.
"""
