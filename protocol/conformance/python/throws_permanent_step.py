"""Conformance fixture `ConformanceThrowsPermanent` (protocol/SPEC.md §11.1): any
exception with ``retryable = False`` is permanent (``motiad_sdk.NonRetryableError``
is one), so the fixture needs no SDK and any Python child can load it."""

config = {
    "name": "ConformanceThrowsPermanent",
    "type": "event",
    "subscribes": ["conformance.permanent"],
    "emits": [],
}


class PermanentFailure(Exception):
    """A failure no retry can fix."""

    retryable = False


async def handler(input, context):
    raise PermanentFailure("permanent failure")
