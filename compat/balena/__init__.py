"""The balena (resin) supervisor's API: the dialect app (dialect.py) over the v1 and v2 route
tables, express's conventions (express.py, qs.py) and the resin-era web terminal (tty.py).

Its modules may import compat's shared modules (base, responses, access, gohttp, gojson) and
handlers; never another dialect's package. dialect.py alone imports v1 and v2.
"""
