"""The domain: containers, network, host, hardware, store. Knows nothing of HTTP or dialects."""

VERSION = "0.1.0"
