"""Command-line failure handling shared by every package's commands: one `error: ...` line and exit 1, never a
traceback for a bad setting, an unreachable service or bad input."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, overload

import click
from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError

from crm.errors import WarmlineError
from crm.ops.preflight import PreflightError
from crm.settings import Settings

F = TypeVar("F", bound=Callable[..., Any])


class UserError(click.ClickException):
    """Printed as `error: <message>` with exit code 1."""

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.message}", err=True)


@overload
def friendly(func: F) -> F: ...
@overload
def friendly(*, also: tuple[type[Exception], ...] = ()) -> Callable[[F], F]: ...
def friendly(func: F | None = None, *, also: tuple[type[Exception], ...] = ()) -> F | Callable[[F], F]:
    """Turn expected failures (and the command's own `also` errors) into one line and exit code 1."""

    def decorate(command: F) -> F:
        @functools.wraps(command)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            expected: tuple[type[Exception], ...] = (PreflightError, WarmlineError, *also)
            try:
                return command(*args, **kwargs)
            except expected as exc:
                raise UserError(str(exc)) from None
            except SQLAlchemyError as exc:
                first = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0][:300]
                raise UserError(f"database error: {first}") from None
            except OSError as exc:
                raise UserError(f"{exc.strerror or exc}{f': {exc.filename}' if exc.filename else ''}") from None

        return wrapper  # type: ignore[return-value]

    return decorate(func) if func is not None else decorate


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment, with a bad value reported as the variable to fix."""
    try:
        settings = Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        name = "CRM_" + str(first["loc"][0]).upper() if first["loc"] else "settings"
        raise UserError(f"{name}: {first['msg']}") from None
    given = {k: v for k, v in overrides.items() if v is not None}
    return settings.model_copy(update=given) if given else settings
