"""motiad: a polyglot backend runtime. Steps run on warm child processes and
talk to the broker in newline-delimited JSON-RPC 2.0 (see ``protocol/SPEC.md``)."""

__version__ = "0.1.0"
