"""The stream `ConformanceStream` uses (protocol/SPEC.md §11.1, `lifecycle.streams`)."""

config = {"name": "conformance", "baseConfig": {"storageType": "default"}}
