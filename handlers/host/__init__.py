"""The host through D-Bus, netlink, sysfs and files: identity, hostname and proxy, network and
Wi-Fi, systemd units, power control, processes, LEDs to blink, local shells, socket files, the
resin-era app data folders.

May import: handlers' shared modules (errors, store, jsvalues, redact, docker).
Never handlers.engine, handlers.hardware, handlers.accounts, compat or starlette.
"""
