"""The backend for several brokers serving one project: a shared Redis server.
The connection (pool, pipelined Lua scripts, outage guard) in :mod:`.connection`,
the scripts in :mod:`.lua`, the queue, state, streams and traces each in its
module, composed by :class:`RedisStore`. The only place redis-py is imported:
it costs a sixth of a second, paid by projects on Redis alone."""

from .store import RedisStore

__all__ = ["RedisStore"]
