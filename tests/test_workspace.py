"""Workspaces: `tocsin init` writes the template, commands find the folder to use."""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path

import pytest

from tocsin.config import ConfigError
from tocsin.workspace import find_workspace, init_workspace, template_text


def test_template_ships_as_package_data() -> None:
    text = resources.files("tocsin").joinpath("templates", "tocsin.toml").read_text("utf-8")
    data = tomllib.loads(text)
    assert data["organisation"]["name"] == "Acme"
    assert set(data) == {
        "organisation",
        "database",
        "watches",
        "sources",
        "retention",
        "run",
        "enrich",
        "web",
    }
    assert "Change Acme to your brand here" in text
    assert "French" in text


def test_init_creates_the_folder_and_a_commented_file(tmp_path: Path) -> None:
    folder = tmp_path / "new" / "workspace"
    path = init_workspace(folder)
    assert path == folder / "tocsin.toml"
    assert path.read_text(encoding="utf-8") == template_text()


def test_init_sets_the_organisation_in_one_line(tmp_path: Path) -> None:
    path = init_workspace(tmp_path, organisation='Le "Bon" Coin')
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    assert data["organisation"]["name"] == 'Le "Bon" Coin'
    assert path.read_text(encoding="utf-8").count("Bon") == 1


def test_init_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    path = tmp_path / "tocsin.toml"
    path.write_text("# mine\n", encoding="utf-8")
    with pytest.raises(FileExistsError, match=r"already exists.*--force"):
        init_workspace(tmp_path)
    assert path.read_text(encoding="utf-8") == "# mine\n"
    init_workspace(tmp_path, force=True)
    assert path.read_text(encoding="utf-8") == template_text()


def test_init_refuses_a_blank_organisation(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="blank"):
        init_workspace(tmp_path, organisation="  ")
    assert not (tmp_path / "tocsin.toml").exists()


def test_find_workspace_option_then_env_then_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    option, from_env, cwd = (tmp_path / name for name in ("option", "env", "cwd"))
    for folder in (option, from_env, cwd):
        init_workspace(folder)
    monkeypatch.chdir(cwd)
    env = {"TOCSIN_WORKSPACE": str(from_env)}
    assert find_workspace(option, env) == option
    assert find_workspace(None, env) == from_env
    assert find_workspace(None, {}) == cwd


def test_find_workspace_without_a_config_says_run_init(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"has no tocsin.toml[\s\S]*run `tocsin init"):
        find_workspace(tmp_path, {})
    with pytest.raises(ConfigError, match=r"from TOCSIN_WORKSPACE\) does not exist"):
        find_workspace(None, {"TOCSIN_WORKSPACE": str(tmp_path / "missing")})
