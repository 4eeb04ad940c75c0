"""Attached hardware through sysfs, ioctls and X11: backlight, buses, disks, GPIO, LEDs, screens,
sensors, the watchdog.

May import: handlers' shared modules (errors, store, jsvalues, redact) and handlers.host (the
host's files, handlers.host.hostfs). Never handlers.engine, handlers.accounts, compat or starlette.
"""
