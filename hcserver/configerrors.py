"""Reading a configuration file: the errors, each naming the file and the key, and the checks of
single values that hcserver.config applies to every key. Every error of a file is collected
(:class:`Collector`) and reported at once (:class:`ConfigErrors`)."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Any


class ConfigError(ValueError):
    """A configuration problem, naming the file and the key."""

    def __init__(self, file: str, key: str, message: str):
        super().__init__(f"{file}: {key}: {message}")
        self.file, self.key, self.message = file, key, message


class ConfigErrors(ConfigError):
    """Every problem found in one file (the first one gives file, key and message)."""

    def __init__(self, errors: list[ConfigError]):
        first = errors[0]
        super().__init__(first.file, first.key, first.message)
        self.errors = errors
        self.args = ("\n".join(str(error) for error in errors),)

    def __str__(self) -> str:
        return self.args[0]


class Collector:
    """Gathers errors so that one pass over a file reports all of them."""

    def __init__(self) -> None:
        self.errors: list[ConfigError] = []

    @contextmanager
    def each(self):
        try:
            yield
        except ConfigErrors as exc:
            self.errors.extend(exc.errors)
        except ConfigError as exc:
            self.errors.append(exc)

    def raise_any(self) -> None:
        if self.errors:
            raise ConfigErrors(self.errors)


def check(file: str, key: str, value: Any, kind: type | tuple, what: str) -> Any:
    if isinstance(value, bool) and kind in (int, float, (int, float)):
        raise ConfigError(file, key, f"expected {what}, got {value!r}")
    if not isinstance(value, kind):
        raise ConfigError(file, key, f"expected {what}, got {value!r}")
    return value


def choice(file: str, key: str, value: Any, allowed: tuple[str, ...], spell=str.upper) -> str:
    """One of ``allowed``, whatever its case (``spell`` gives the allowed spelling)."""
    chosen = spell(value) if isinstance(value, str) else value
    if chosen not in allowed:
        raise ConfigError(file, key, f"{value!r} is not one of: {', '.join(allowed)}")
    return chosen


def str_list(file: str, key: str, value: Any, allowed: tuple[str, ...] | None = None,
              spell=str.upper) -> tuple[str, ...]:
    check(file, key, value, list, "a list of strings")
    for i, item in enumerate(value):
        check(file, f"{key}[{i}]", item, str, "a string")
    if allowed is None:
        return tuple(value)
    return tuple(choice(file, f"{key}[{i}]", item, allowed, spell) for i, item in enumerate(value))


def ranges(file: str, base: str, values: dict[str, Any], ranges: dict[str, tuple[float, float, str]],
            found: Collector) -> None:
    """Every number of ``values`` that ``ranges`` bounds, checked (NaN is in no range)."""
    for key, (low, high, what) in ranges.items():
        value = values.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and not low <= value <= high:
            found.errors.append(ConfigError(file, f"{base}.{key}", f"{value!r} is out of range: must be {what}"))
