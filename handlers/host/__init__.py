"""The host through D-Bus, netlink, sysfs and files: identity, hostname and proxy, network and
Wi-Fi, systemd units, power control, processes, LEDs to blink, local shells, socket files.

May import: handlers' shared modules (errors, store, jsvalues, redact, docker) and handlers.hardware.errors.
Never handlers.engine, handlers.accounts, compat or starlette.
"""
