"""The arguments of a request: what each operation takes (hcserver.server.operations declares
them), checked once before its handler runs, and the refusal a handler raises.

A request is a JSON object: arguments it does not name are ignored, as the protocol's ``id``
and ``op`` are.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hcserver.access import Peer
from hcserver.errors import ErrorCode

if TYPE_CHECKING:
    from hcserver.config import ServerConfig

MAX_WAIT_S = 300              # one wait request; clients wait longer by asking again
IMAGE_REF_PREFIX = "sha256:"


class RequestError(Exception):
    """A request refused with an error code of the protocol."""

    def __init__(self, code: ErrorCode, message: str):
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Arg:
    """One argument: its JSON type(s), whether it must be there, its default, and a check of
    its value (which may refuse it, or give the value to use)."""

    name: str
    kind: type | tuple[type, ...]
    required: bool = False
    default: Any = None
    check: Callable[[Any, ServerConfig], Any] | None = None

    def read(self, request: dict, config: ServerConfig) -> Any:
        if self.name not in request:
            if self.required:
                raise RequestError(ErrorCode.BAD_REQUEST, f"missing argument {self.name!r}")
            return self.default
        value = request[self.name]
        # JSON true is no number here, though Python's bool is an int
        if not isinstance(value, self.kind) or (self.kind is int and isinstance(value, bool)):
            raise RequestError(ErrorCode.BAD_REQUEST, f"argument {self.name!r} has the wrong type")
        # JSON integers have no bound, the database's do: none larger than a signed 64-bit one
        if isinstance(value, int) and not -(1 << 63) <= value < 1 << 63:
            raise RequestError(ErrorCode.BAD_REQUEST, f"argument {self.name!r} is out of range ({value})")
        return self.check(value, config) if self.check else value


def _job_id(job: int, config: ServerConfig) -> int:
    if not 0 < job < 1 << 62:   # beyond any id, and beyond what the database's integers hold
        raise RequestError(ErrorCode.UNKNOWN_JOB, f"no job {job}")
    return job


def _configured_printer(name: str, config: ServerConfig) -> str:
    if name not in config.printers:
        raise RequestError(ErrorCode.UNKNOWN_PRINTER, f"no printer {name!r} (configured: "
                                                      f"{', '.join(config.printers)})")
    return name


def _configured_destination(name: str, config: ServerConfig) -> str:
    """A printer or a pool: where a job may be sent."""
    if name not in config.pools:
        if name not in config.printers and config.pools:
            raise RequestError(ErrorCode.UNKNOWN_PRINTER, f"no printer or pool {name!r} (configured: "
                                                          f"{', '.join(config.printers)}; pools: "
                                                          f"{', '.join(config.pools)})")
        return _configured_printer(name, config)
    return name


def _wait_timeout(timeout: float, config: ServerConfig) -> float:
    if not 0 <= timeout <= MAX_WAIT_S:  # also refuses NaN
        raise RequestError(ErrorCode.BAD_REQUEST, f"timeout must be 0 to {MAX_WAIT_S} seconds")
    return timeout


JOB = Arg("job", int, required=True, check=_job_id)
PRINTER = Arg("printer", str, required=True, check=_configured_printer)
DESTINATION = Arg("printer", str, required=True, check=_configured_destination)
TIMEOUT = Arg("timeout", (int, float), default=30, check=_wait_timeout)
SPEC = Arg("spec", dict, required=True)


@dataclass(frozen=True)
class Call:
    """A request as its handler gets it: who asks, the checked arguments, the attachment."""

    peer: Peer
    args: dict[str, Any]
    attachment: bytes | bytearray = b""
