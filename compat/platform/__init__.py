"""The industrial edge platform agent's API (gin): the dialect app (dialect.py) and its route
modules (auth, net, perif, stream, system, term) over the shared pieces of kit.py.

Its modules may import compat's shared modules (base, responses, access, gohttp, gojson) and
handlers; never another dialect's package. dialect.py alone imports the route modules.
"""
