"""The Jinja environment DM templates render in, and the worker process that renders user-supplied ones.

A user's template is code: it can loop, multiply strings and call methods. The environment refuses the obvious
ways to exhaust time or memory quickly and with a reason (huge `*`, `**`, `%` widths, `range`, width methods), and
refuses templates that load others (`include`, `extends`, `import`, `self`), naming the line. What it cannot see
coming (a loop that is merely long, a string built up in a namespace) is bounded by where user templates run: in
a child process started as `python -m outreach.compose.sandbox`, with an address-space limit, a CPU backstop and a
wall-clock timeout enforced by the parent (`outreach.compose.render_pool`), which kills and replaces the child.

This module imports only the standard library and Jinja, so a worker starts in a fraction of a second.
"""

from __future__ import annotations

import json
import math
import os
import re
import signal
import string
import sys
from collections.abc import Callable, Mapping
from typing import Any

from jinja2 import StrictUndefined, TemplateError, TemplateSyntaxError, nodes
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment

# No DM is longer than 10,000 characters; anything a hundred times that is an attack, not a draft.
MAX_RESULT = 100_000
MAX_RANGE = 10_000
MAX_INT_BITS = 4_096
# How much address space a worker may add to what it uses after start-up, and its CPU backstop per render
# (the parent's wall-clock timeout is much shorter; this only matters if the parent is gone).
MEMORY_HEADROOM_BYTES = 256 * 1024 * 1024
CPU_SECONDS_PER_RENDER = 5

LOADERS: dict[type[nodes.Node], str] = {
    nodes.Extends: "{% extends %}",
    nodes.Include: "{% include %}",
    nodes.Import: "{% import %}",
    nodes.FromImport: "{% from ... import %}",
}
WIDTH_METHODS = frozenset({"ljust", "rjust", "center", "zfill", "expandtabs"})
# A `%` conversion's width and precision: `%-*d`, `%10.3f`, `%(name)s`.
PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?")


class Refused(TemplateError):
    """A template this environment will not render; `kind` (syntax, forbidden, limit, runtime, memory) tells
    the caller what went wrong."""

    def __init__(self, message: str, kind: str = "runtime") -> None:
        super().__init__(message)
        self.kind = kind


class TooLarge(SecurityError):
    """An operation that would build a value beyond what any DM needs."""


def _too_big(what: str) -> TooLarge:
    return TooLarge(f"{what}; a template may produce at most {MAX_RESULT:,} characters or items")


def _check_width(value: Any, what: str) -> None:
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_RESULT:
        raise _too_big(f"{what} of {value:,}")


def _check_percent(fmt: str) -> None:
    for width, precision in PERCENT_SPEC.findall(fmt):
        for number in (width, precision):
            if number == "*":
                raise SecurityError("a `*` width in %-formatting is not allowed in templates")
            if number and int(number) > MAX_RESULT:
                raise _too_big(f"a %-format width of {int(number):,}")


def _check_format_spec(fmt: str) -> None:
    try:
        fields = list(string.Formatter().parse(fmt))
    except ValueError as exc:
        raise SecurityError(f"bad format string: {exc}") from None
    for _, _, spec, _ in fields:
        if not spec:
            continue
        if "{" in spec:
            raise SecurityError("nested fields in a format spec are not allowed in templates")
        for number in re.findall(r"\d+", spec):
            if int(number) > MAX_RESULT:
                raise _too_big(f"a format width of {int(number):,}")


def bounded_range(*args: int) -> range:
    """`range`, refused beyond MAX_RANGE items (Jinja's own sandbox allows 100,000, and loops nest)."""
    made = range(*args)
    if len(made) > MAX_RANGE:
        raise TooLarge(f"range of {len(made):,} items; a template may loop over at most {MAX_RANGE:,}")
    return made


def _power_too_big(base: float, exponent: float) -> bool:
    if abs(base) <= 1 or exponent <= 0:
        return False
    return exponent * math.log2(abs(base)) > MAX_INT_BITS


def _sized(value: Any) -> int | None:
    return len(value) if isinstance(value, str | bytes | list | tuple) else None


class DraftEnvironment(SandboxedEnvironment):
    """Jinja's sandbox (no attribute access to internals) plus size checks on the operators and calls that can
    build a huge value from a short template."""

    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self) -> None:
        super().__init__(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False)
        self.globals["range"] = bounded_range
        self.filters["center"] = self._checked_filter(self.filters["center"], "a centred width")
        self.filters["indent"] = self._checked_filter(self.filters["indent"], "an indent")
        self.filters["format"] = self._checked_format(self.filters["format"])

    @staticmethod
    def _checked_filter(original: Callable[..., Any], what: str) -> Callable[..., Any]:
        def checked(value: Any, *args: Any, **kwargs: Any) -> Any:
            for argument in (*args, *kwargs.values()):
                _check_width(argument, what)
            return original(value, *args, **kwargs)

        return checked

    @staticmethod
    def _checked_format(original: Callable[..., Any]) -> Callable[..., Any]:
        def checked(value: Any, *args: Any, **kwargs: Any) -> Any:
            _check_percent(str(value))
            return original(value, *args, **kwargs)

        return checked

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            for sequence, times in ((left, right), (right, left)):
                size = _sized(sequence)
                if size is not None and isinstance(times, int) and size * times > MAX_RESULT:
                    raise _too_big(f"`*` would make {size * times:,} characters or items")
            both_ints = isinstance(left, int) and isinstance(right, int)
            if both_ints and abs(left).bit_length() + abs(right).bit_length() > MAX_INT_BITS:
                raise TooLarge(f"numbers over {MAX_INT_BITS:,} bits are not allowed in templates")
        elif operator == "**":
            if isinstance(left, int | float) and isinstance(right, int | float) and _power_too_big(left, right):
                raise TooLarge(f"that power is too large for a template (over {MAX_INT_BITS:,} bits)")
        elif operator == "+":
            sizes = (_sized(left), _sized(right))
            if sizes[0] is not None and sizes[1] is not None and sizes[0] + sizes[1] > MAX_RESULT:
                raise _too_big(f"`+` would make {sizes[0] + sizes[1]:,} characters or items")
        elif operator == "%" and isinstance(left, str):
            _check_percent(left)
        return super().call_binop(context, operator, left, right)

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        name = getattr(__obj, "__name__", "")
        if isinstance(getattr(__obj, "__self__", None), str) and name in WIDTH_METHODS:
            for argument in (*args, *kwargs.values()):
                _check_width(argument, f"a {name}() width")
        return super().call(__context, __obj, *args, **kwargs)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        wrapper = super().wrap_str_format(value)
        if wrapper is not None:
            _check_format_spec(value.__self__)
        return wrapper


def check_template(tree: nodes.Template) -> None:
    """Refuse templates that reach outside themselves: there is no loader, and `self` exposes the blocks."""
    for node in tree.find_all(tuple(LOADERS)):
        raise Refused(
            f"line {node.lineno}: {LOADERS[type(node)]} is not allowed; a DM template cannot load other templates",
            "forbidden",
        )
    for name in tree.find_all(nodes.Name):
        if name.name == "self":
            raise Refused(f"line {name.lineno}: `self` is not allowed in a DM template", "forbidden")


def render_template(env: DraftEnvironment, source: str, values: Mapping[str, Any]) -> str:
    """Parse, check and render one template; every failure is a `Refused` naming what went wrong."""
    try:
        tree = env.parse(source)
        check_template(tree)
        return env.from_string(tree).render(**values)
    except Refused:
        raise
    except TemplateSyntaxError as exc:
        raise Refused(f"line {exc.lineno}: {exc.message}", "syntax") from None
    except TooLarge as exc:
        raise Refused(str(exc), "limit") from None
    except SecurityError as exc:
        raise Refused(str(exc), "forbidden") from None
    except RecursionError:
        raise Refused("the template nests too deeply", "limit") from None
    except MemoryError:
        raise Refused("the template used too much memory", "memory") from None
    except TemplateError as exc:
        raise Refused(str(exc)) from None
    except Exception as exc:  # the template's own arithmetic and calls: 1/0, int('x'), a float overflow
        raise Refused(f"{type(exc).__name__}: {exc}") from None


# --------------------------------------------------------------------------- the worker process


def _limit_resources() -> None:
    """Cap the address space at what the worker uses now plus a headroom (Linux reports it in /proc)."""
    try:
        import resource  # Unix-only: where it is missing the worker still starts, bounded by the parent's timeout

        with open("/proc/self/statm", encoding="ascii") as statm:
            in_use = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (ImportError, OSError, ValueError):
        return
    limit = in_use + MEMORY_HEADROOM_BYTES
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def _cpu_backstop() -> None:
    """The kernel ends this process if one render runs CPU_SECONDS_PER_RENDER past the work done so far."""
    try:
        import resource  # Unix-only, as in _limit_resources: no backstop where it is missing
    except ImportError:
        return
    used = resource.getrusage(resource.RUSAGE_SELF)
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    soft = math.ceil(used.ru_utime + used.ru_stime) + CPU_SECONDS_PER_RENDER
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


def _answer(stream: Any, reply: dict[str, Any]) -> None:
    stream.write(json.dumps(reply).encode() + b"\n")
    stream.flush()


def serve(requests: Any = None, replies: Any = None) -> None:
    """Read one JSON request per line (`template`, `values`), answer one JSON line (`body` or `error` + `kind`).

    Ends when its input closes, which is also what happens when the parent dies.
    """
    requests = requests or sys.stdin.buffer
    replies = replies or sys.stdout.buffer
    # Ctrl-C in a terminal reaches the whole process group; the parent decides when a worker stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    env = DraftEnvironment()
    _limit_resources()
    _answer(replies, {"ready": True})
    for line in requests:
        try:
            request = json.loads(line)
            _cpu_backstop()
            body = render_template(env, request["template"], request["values"])
            if len(body) > MAX_RESULT:
                raise Refused(f"the template produced {len(body):,} characters; at most {MAX_RESULT:,}", "limit")
            reply: dict[str, Any] = {"body": body}
        except Refused as exc:
            reply = {"error": str(exc), "kind": exc.kind}
        except MemoryError:
            reply = {"error": "the template used too much memory", "kind": "memory"}
        except (ValueError, KeyError, TypeError) as exc:
            reply = {"error": f"bad request to the template worker: {exc}", "kind": "internal"}
        try:
            _answer(replies, reply)
        except MemoryError:
            _answer(replies, {"error": "the template used too much memory", "kind": "memory"})


if __name__ == "__main__":
    serve()
