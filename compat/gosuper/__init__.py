"""The resin supervisor's Go helper (gosuper): the dialect app (dialect.py) and its systemd
decision chains (units.py).

Its modules may import compat's shared modules (base, responses, access, gohttp, gojson) and
handlers; never another dialect's package.
"""
