"""A workspace: a folder holding ``tocsin.toml`` and, by default, the SQLite database.

`init_workspace` writes the commented template shipped in ``tocsin/templates``;
`find_workspace` picks the folder to use: the ``--workspace`` option, else the
``TOCSIN_WORKSPACE`` environment variable, else the current folder.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from importlib import resources
from pathlib import Path

from tocsin.config import CONFIG_FILE, ConfigError, Problem, load_settings

__all__ = ["WORKSPACE_ENV", "add_source", "find_workspace", "init_workspace", "template_text"]

WORKSPACE_ENV = "TOCSIN_WORKSPACE"
_NAME_LINE = re.compile(r'^name = "Acme"$', re.MULTILINE)


def template_text(organisation: str | None = None) -> str:
    """The commented ``tocsin.toml`` template, for `organisation` if given (else Acme)."""
    text = resources.files("tocsin").joinpath("templates", CONFIG_FILE).read_text("utf-8")
    if organisation is not None:
        # A TOML basic string: JSON's escapes (\" \\ \n \uXXXX) are valid TOML.
        line = f"name = {json.dumps(organisation.strip(), ensure_ascii=False)}"
        text = _NAME_LINE.sub(lambda _: line, text, count=1)
    return text


def init_workspace(
    directory: Path, *, organisation: str | None = None, force: bool = False
) -> Path:
    """Create `directory` if needed and write its ``tocsin.toml``; return the file's path.

    Raises `FileExistsError` if the file exists and `force` is false, and `ConfigError` for a
    blank organisation name.
    """
    directory = Path(directory)
    file = directory / CONFIG_FILE
    if organisation is not None and not organisation.strip():
        problem = Problem(
            path="organisation.name",
            message="the organisation name is blank",
            fix='give a name, e.g. tocsin init --organisation "Acme"',
        )
        raise ConfigError(file, [problem])
    if file.exists() and not force:
        raise FileExistsError(
            f"{file} already exists; edit it, or run `tocsin init --force` to replace it "
            "with a fresh template (your changes would be lost)"
        )
    if directory.exists() and not directory.is_dir():
        raise FileExistsError(f"{directory} exists and is not a folder; choose another path")
    directory.mkdir(parents=True, exist_ok=True)
    file.write_text(template_text(organisation), encoding="utf-8")
    return file


def find_workspace(start: Path | None = None, env: Mapping[str, str] = os.environ) -> Path:
    """The workspace folder: `start` (``--workspace``), else ``TOCSIN_WORKSPACE``, else ``.``.

    Raises `ConfigError` when that folder has no ``tocsin.toml``.
    """
    if start is not None:
        folder, origin = Path(start), "--workspace"
    elif env.get(WORKSPACE_ENV):
        folder, origin = Path(env[WORKSPACE_ENV]), WORKSPACE_ENV
    else:
        folder, origin = Path.cwd(), "the current folder"
    folder = folder.expanduser()
    file = folder / CONFIG_FILE
    if not file.is_file():
        where = "does not exist" if not folder.exists() else f"has no {CONFIG_FILE}"
        problem = Problem(
            path="",
            message=f"the workspace {folder} (from {origin}) {where}",
            fix=f"run `tocsin init {folder}` first, or pass --workspace / set "
            f"{WORKSPACE_ENV} to the folder that holds your {CONFIG_FILE}",
        )
        raise ConfigError(file, [problem])
    return folder.absolute()


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a valid TOML basic string
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} to tocsin.toml")


def add_source(
    workspace: Path, kind: str, name: str, options: Mapping[str, object], *, comment: str = ""
) -> Path:
    """Append a ``[[sources]]`` table to the workspace's tocsin.toml, keeping its comments.

    The file is validated afterwards; if the new table is wrong (duplicate name, bad option),
    the file is put back as it was and the `ConfigError` says why.
    """
    path = workspace / CONFIG_FILE
    before = path.read_text(encoding="utf-8")
    lines = ["", *(f"# {line}" for line in comment.splitlines()), "[[sources]]"]
    lines += [f"type = {_toml_value(kind)}", f"name = {_toml_value(name)}"]
    lines += [f"{key} = {_toml_value(value)}" for key, value in options.items()]
    path.write_text(before.rstrip("\n") + "\n" + "\n".join(lines) + "\n", encoding="utf-8")
    try:
        load_settings(workspace, env={})
    except ConfigError:
        path.write_text(before, encoding="utf-8")
        raise
    return path
