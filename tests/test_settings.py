"""Settings are declared once and resolved defaults → config file → environment → mapping."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from docsvc import settings
from docsvc.errors import InvalidInput


def test_precedence(tmp_path):
    cfg = tmp_path / "docsvc.toml"
    cfg.write_text('archive_dir = "/from/file"\nport = 6000\nmax_upload_bytes = 1234\n', "utf-8")
    env = {"DOCSVC_CONFIG": str(cfg), "DOCSVC_PORT": "7000"}
    values = settings.load({"MAX_UPLOAD_BYTES": 99}, environ=env)
    assert values["ARCHIVE_DIR"] == Path("/from/file")  # file beats default
    assert values["PORT"] == 7000  # environment beats file
    assert values["MAX_UPLOAD_BYTES"] == 99  # explicit mapping beats everything
    assert values["DATABASE_URL"] == "sqlite:////from/file/catalog.sqlite3"


def test_defaults_without_anything(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    values = settings.load(environ={})
    assert values["ARCHIVE_DIR"] == Path("./archive") and values["FSYNC"] is True
    assert values["DATABASE_URL"].endswith("/archive/catalog.sqlite3")


@pytest.mark.parametrize("env", [{"DOCSVC_PORT": "eighty"}, {"DOCSVC_FSYNC": "perhaps"}])
def test_invalid_values_are_named(env):
    with pytest.raises(InvalidInput) as err:
        settings.load(environ=env)
    assert err.value.field == next(iter(env)) and "无效" in err.value.zh


def test_broken_config_file(tmp_path):
    cfg = tmp_path / "bad.toml"
    cfg.write_text("port = [", "utf-8")
    with pytest.raises(InvalidInput) as err:
        settings.load(environ={"DOCSVC_CONFIG": str(cfg)})
    assert "TOML" in err.value.en


def test_readme_table_is_generated_from_the_declaration():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text("utf-8")
    block = re.search(r"<!-- settings:start -->\n(.*?)\n<!-- settings:end -->", readme, re.S)
    assert block, "README.md must hold the settings table between settings markers"
    assert block.group(1).strip() == settings.markdown_table().strip()
