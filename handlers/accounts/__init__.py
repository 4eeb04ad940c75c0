"""Who may log in: the platform's logins, OS accounts (PAM or a file), password hashes, RS256 JWTs
and the RSA key that signs them.

May import: handlers' shared modules (errors, store, jsvalues, redact).
Never handlers.engine, handlers.host, handlers.hardware, compat or starlette.
"""
