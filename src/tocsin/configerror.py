"""Configuration errors a person can act on: file, line, key path, what is wrong, the fix.

`ConfigError` gathers every `Problem` found in one go. Problems come from TOML syntax errors
(tomllib reports line and column), from pydantic validation errors (their location path is
looked up in the file with `tomlpos.KeyLocator`) and from ``TOCSIN_*`` environment variables
(named instead of a line). Values of secret keys are never shown.
"""

from __future__ import annotations

import difflib
import re
import tomllib
import typing
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails, PydanticCustomError, PydanticUndefined

from tocsin.redaction import REDACTED, is_secret_key, redact_url
from tocsin.tomlpos import KeyLocator
from tocsin.tomlpos import Path as KeyPath

__all__ = [
    "ConfigError",
    "Problem",
    "custom_error",
    "did_you_mean",
    "format_path",
    "problems_from_validation",
    "toml_syntax_problem",
]


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong in the configuration, and how to fix it."""

    path: str
    message: str
    fix: str
    line: int | None = None
    env_var: str | None = None

    def render(self, file: Path) -> str:
        if self.env_var:
            where = f"{self.env_var} (environment variable)"
        elif self.line is not None:
            where = f"{file}:{self.line}"
        else:
            where = str(file)
        head = f"{where}: {self.path}: " if self.path else f"{where}: "
        message = self.message.replace("\n", "\n    ")
        return f"{head}{message}\n    fix: {self.fix}"


class ConfigError(Exception):
    """The workspace configuration cannot be used; the message lists every problem found."""

    def __init__(self, file: Path, problems: Sequence[Problem]) -> None:
        self.file = file
        self.problems = tuple(problems)
        count = len(self.problems)
        head = f"{file}: {count} configuration error{'s' if count != 1 else ''}"
        body = "\n".join(problem.render(file) for problem in self.problems)
        super().__init__(f"{head}\n{body}")


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` when a choice is close to `word`, else ``""``."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def format_path(loc: KeyPath) -> str:
    """``("sources", 2, "interval")`` -> ``sources[2].interval``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


_TOML_POS = re.compile(r"\s*\(at line (\d+), column (\d+)\)|\s*\(at end of document\)")


def toml_syntax_problem(text: str, exc: tomllib.TOMLDecodeError) -> Problem:
    """A tomllib error rewrapped with the line shown and a caret under the column."""
    message = str(exc)
    found = _TOML_POS.search(message)
    what = _TOML_POS.sub("", message)
    lines = text.splitlines()
    line = column = None
    if found and found.group(1):
        line, column = int(found.group(1)), int(found.group(2))
    elif lines:
        line, column = len(lines), len(lines[-1]) + 1
    detail = f"TOML syntax error: {what}"
    if line is not None and column is not None and line <= len(lines):
        detail += f"\n{lines[line - 1]}\n{' ' * (column - 1)}^"
    fix = (
        'check this line: text values need double quotes (name = "Acme"), lists use square '
        "brackets, each [table] header stands on its own line, and a key appears once per table"
    )
    return Problem(path="", message=detail, fix=fix, line=line)


def _model_at(root: type[BaseModel], loc: KeyPath) -> type[BaseModel] | None:
    """The pydantic model class that holds the keys at `loc` (indices skipped)."""
    model: type[BaseModel] = root
    for part in loc:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        if field is None:
            return None
        annotation = field.annotation
        for arg in (annotation, *typing.get_args(annotation)):
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                model = arg
                break
        else:
            return None
    return model


def _example(root: type[BaseModel], loc: KeyPath) -> str | None:
    """``key = <default>`` for the field at `loc`, in TOML, when the model is known."""
    model = _model_at(root, loc[:-1])
    key = loc[-1] if loc else ""
    if model is None or not isinstance(key, str) or key not in model.model_fields:
        return None
    default = model.model_fields[key].default
    if default is PydanticUndefined or default is None or isinstance(default, BaseModel):
        return None
    if isinstance(default, bool):
        return f"{key} = {str(default).lower()}"
    if isinstance(default, str):
        return f'{key} = "{default}"'
    if isinstance(default, list):
        return f"{key} = [{', '.join(repr(v).replace(chr(39), chr(34)) for v in default)}]"
    return f"{key} = {default}"


def _eg(root: type[BaseModel], loc: KeyPath) -> str:
    example = _example(root, loc)
    return f", e.g. `{example}`" if example else ""


def _known_keys(root: type[BaseModel], error: ErrorDetails) -> list[str]:
    ctx = error.get("ctx") or {}
    if "known" in ctx:
        return list(ctx["known"])
    model = _model_at(root, error["loc"][:-1])
    return list(model.model_fields) if model else []


_KIND_WORDS = (
    ("int_", "a whole number"),
    ("float_", "a number"),
    ("bool_", "true or false"),
    ("string_", "text"),
    ("greater_than", "a larger number"),
    ("less_than", "a smaller number"),
)


def _env_fix(error: ErrorDetails, env_var: str) -> str:
    ctx = error.get("ctx") or {}
    if "fix" in ctx:
        return f"{ctx['fix']} (here: set {env_var} accordingly, or unset it)"
    what = next((w for p, w in _KIND_WORDS if error["type"].startswith(p)), "a valid value")
    return f"set {env_var} to {what}, or unset it to use the file's value"


def _fix(root: type[BaseModel], error: ErrorDetails) -> str:
    """What to do about one pydantic error, in the words of a TOML file."""
    kind, loc, ctx = error["type"], error["loc"], error.get("ctx") or {}
    if "fix" in ctx:
        return str(ctx["fix"])
    key = str(loc[-1]) if loc else ""
    if kind == "missing":
        return f"add `{_example(root, loc) or key + ' = ...'}` to this table"
    if kind == "extra_forbidden":
        known = _known_keys(root, error)
        close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
        hint = f"did you mean `{close[0]}`? " if close else "remove it or correct its name; "
        return f"{hint}known keys here: {', '.join(known)}"
    if kind.startswith("int_"):
        return f"write a whole number without quotes{_eg(root, loc)}"
    if kind.startswith("float_"):
        return f"write a number without quotes{_eg(root, loc)}"
    if kind.startswith("bool_"):
        return f"write true or false, in lower case, without quotes: `{key} = true`"
    if kind.startswith("string_"):
        example = _eg(root, loc) or f', e.g. `{key} = "..."`'
        return f"write text in double quotes{example}"
    if kind.startswith(("list_", "tuple_", "set_")):
        return f'write a list in square brackets, e.g. `{key} = ["a", "b"]`'
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        return f"write a table: a `[{key}]` header followed by `key = value` lines"
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        return f"use a value {error['msg'].removeprefix('Input should be ')}{_eg(root, loc)}"
    if kind == "literal_error":
        return f"use one of {ctx.get('expected', 'the allowed values')}"
    return "correct the value; `tocsin init` writes a commented example of every setting"


def _shown(loc: KeyPath, value: Any) -> str:
    """The input as it may be printed: secrets hidden, URL passwords hidden, long cut."""
    if any(isinstance(part, str) and is_secret_key(part) for part in loc):
        return REDACTED
    if isinstance(value, str):
        value = redact_url(value)
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _message(error: ErrorDetails) -> str:
    kind, loc = error["type"], error["loc"]
    if kind == "extra_forbidden":
        return f"unknown key {str(loc[-1])!r}"
    message = error["msg"].removeprefix("Value error, ")
    ctx = error.get("ctx") or {}
    if kind == "missing" or ctx.get("hide_input"):
        return message
    return f"{message} (got {_shown(loc, error.get('input'))})"


def problems_from_validation(
    exc: ValidationError,
    *,
    root: type[BaseModel],
    text: str,
    env_origins: Mapping[KeyPath, str] | None = None,
) -> list[Problem]:
    """One `Problem` per pydantic error, located in `text` or at its environment variable."""
    locator = KeyLocator(text)
    origins = env_origins or {}
    problems = []
    for error in exc.errors():
        loc = tuple(error["loc"])
        env_var = origins.get(loc[:2])
        fix = _env_fix(error, env_var) if env_var else _fix(root, error)
        problems.append(
            Problem(
                path=format_path(loc),
                message=_message(error),
                fix=fix,
                line=None if env_var else locator.line_of(loc),
                env_var=env_var,
            )
        )
    problems.sort(key=lambda p: (p.env_var is not None, p.line or 0))
    return problems


def custom_error(
    kind: str, message: str, fix: str, *, hide_input: bool = True
) -> PydanticCustomError:
    """A pydantic error carrying its own `fix`; the message is used as written."""
    ctx = {"message": message, "fix": fix, "hide_input": hide_input}
    return PydanticCustomError(kind, "{message}", ctx)
