"""API middleware, as in Motia: ``config["middleware"]`` lists functions
``async def mw(req, context, next)`` run around the handler, first one
outermost. A middleware may answer without calling ``next()`` (the handler
never runs), change ``req`` before calling it (the handler gets the same
object), or change the response ``await next()`` gave it. The functions stay in
the child; the broker's copy of the config names them.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

Middleware = Callable[[Any, Any, Callable[[], Awaitable[Any]]], Any]


class MiddlewareError(TypeError):
    """A middleware list that is not one, or a middleware that broke the contract.
    Not retryable: the same code fails the same way again."""

    retryable = False


def middleware_of(config: Mapping[str, Any], path: str) -> tuple[Middleware, ...]:
    """The functions in ``config["middleware"]`` (absent or ``None``: none)."""
    listed = config.get("middleware")
    if listed is None:
        return ()
    if not isinstance(listed, Sequence) or isinstance(listed, str):
        raise MiddlewareError(f"config['middleware'] in {path} must be a list of functions")
    for index, entry in enumerate(listed):
        if not callable(entry):
            raise MiddlewareError(
                f"config['middleware'][{index}] in {path} must be a function, "
                f"not {type(entry).__name__}"
            )
    return tuple(listed)


def middleware_name(middleware: Middleware) -> str:
    """The name a middleware goes by in the config the broker sees."""
    name = getattr(middleware, "__name__", None)
    return name if isinstance(name, str) and name else type(middleware).__name__


async def run_with_middleware(
    middleware: Sequence[Middleware],
    handler: Callable[[], Awaitable[Any]],
    req: Any,
    context: Any,
) -> Any:
    """Run ``handler()`` (the step's handler, already bound to ``req`` and
    ``context``) wrapped in ``middleware``; return the outermost response.

    A middleware may be ``async def`` or a plain function returning an
    awaitable (``return next()``); a plain one runs on the event loop, so it
    must not block.
    """

    async def dispatch(index: int) -> Any:
        if index == len(middleware):
            return await handler()
        current = middleware[index]
        name = middleware_name(current)
        called = False

        async def call_next() -> Any:
            nonlocal called
            if called:
                raise MiddlewareError(f"middleware {name} called next() more than once")
            called = True
            return await dispatch(index + 1)

        response = current(req, context, call_next)
        if inspect.isawaitable(response):
            response = await response
        if not isinstance(response, Mapping):
            raise MiddlewareError(
                f"middleware {name} returned {type(response).__name__}: "
                "return a response, or the result of `await next()`"
            )
        return response

    return await dispatch(0)
