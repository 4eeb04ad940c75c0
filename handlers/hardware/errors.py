"""Domain errors of the platform's hardware and network readers, below handlers.errors.

InvalidInput
 +-- InvalidId      no such LED, GPIO pin, interface uuid... (the routes answer 400)
"""

from __future__ import annotations

from handlers.errors import InvalidInput


class InvalidId(InvalidInput):
    """The id names nothing this machine has (e.g. an LED index past the last LED)."""
