"""motiad SDK for Python steps.

The broker runs ``python -m motiad_sdk``; step files need nothing from this
package except, optionally, :class:`NonRetryableError` to mark a failure as
permanent and the types below for annotations.
"""

from __future__ import annotations

from .context import Context, Logger, State
from .errors import BrokerError, BrokerGoneError, NonRetryableError
from .protocol import SDK_VERSION
from .tables import PROTOCOL_VERSION
from .values import AttrDict

__version__ = SDK_VERSION

__all__ = [
    "PROTOCOL_VERSION",
    "AttrDict",
    "BrokerError",
    "BrokerGoneError",
    "Context",
    "Logger",
    "NonRetryableError",
    "State",
    "__version__",
]
