"""ConfigManager's secrets: the API key never shown, read from any layer or a key file,
rotated files re-read, and one audit line per use.

The autouse `_isolated` fixture clears OPENAI_*/COPYDESK_* variables and chdirs to tmp_path,
so `.env` and `copydesk.toml` here are each test's own files.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import SecretStr

from copydesk.agents.config import ConfigManager
from copydesk.agents.errors import ConfigError, fingerprint
from tests._config import KEY, audit_lines, config_error, write_env, write_toml


def test_api_key_is_secret_in_repr_and_str(monkeypatch: pytest.MonkeyPatch) -> None:
    """The key is a SecretStr: repr/str of Settings and of the manager never show it."""
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    manager = ConfigManager()
    settings = manager.settings

    assert isinstance(settings.openai_api_key, SecretStr)
    assert settings.openai_api_key.get_secret_value() == KEY
    for text in (repr(settings), str(settings), repr(manager), settings.model_dump_json()):
        assert KEY not in text


def test_invalid_setting_error_never_contains_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """An error about another setting does not echo the key."""
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    write_env(f"OPENAI_API_KEY={KEY}\nCOPYDESK_MAX_ROUNDS=0\n")

    message = str(config_error())

    assert "COPYDESK_MAX_ROUNDS" in message
    assert KEY not in message


def test_invalid_key_value_is_shown_as_secret() -> None:
    """An invalid key value itself is shown as <secret>, never echoed."""
    write_toml("openai_api_key = 424242424242\n")

    message = str(config_error())

    assert message.startswith("OPENAI_API_KEY=<secret> (from copydesk.toml)")
    assert "424242" not in message


def test_key_from_dotenv_and_toml_layers(monkeypatch: pytest.MonkeyPatch) -> None:
    """The key follows the same precedence as every other setting."""
    write_toml('openai_api_key = "sk-from-toml"\n')
    assert ConfigManager().secret() == SecretStr("sk-from-toml")

    write_env("OPENAI_API_KEY=sk-from-dotenv\n")
    assert ConfigManager().secret() == SecretStr("sk-from-dotenv")

    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
    assert ConfigManager().secret() == SecretStr("sk-from-env")


def test_secret_is_none_without_a_key(home: Path) -> None:
    """With no key anywhere secret() is None and nothing is audited."""
    manager = ConfigManager(flags={"home": home})

    assert manager.secret() is None
    assert not (home / "audit.log").exists()


def test_key_file_is_read_and_rotation_picked_up(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, home: Path
) -> None:
    """OPENAI_API_KEY_FILE supplies the key; a rewritten file is re-read by secret()."""
    key_file = tmp_path / "secrets" / "openai"
    key_file.parent.mkdir()
    key_file.write_text("sk-first-key-0001\n")
    monkeypatch.setenv("OPENAI_API_KEY_FILE", str(key_file))
    manager = ConfigManager(flags={"home": home})

    first = manager.secret()
    again = manager.secret()
    key_file.write_text("sk-second-key-0002\n")
    stat = key_file.stat()
    os.utime(key_file, (stat.st_atime + 10, stat.st_mtime + 10))
    rotated = manager.secret()

    assert first is not None and again is not None and rotated is not None
    assert first.get_secret_value() == "sk-first-key-0001"  # stripped of the newline
    assert again.get_secret_value() == "sk-first-key-0001"
    assert rotated.get_secret_value() == "sk-second-key-0002"
    assert manager.settings.openai_api_key == rotated
    assert manager.settings.is_offline is False


def test_audit_log_has_one_line_per_secret_read(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, home: Path
) -> None:
    """Each secret() call appends one JSON line with the fingerprint and no key text."""
    key_file = tmp_path / "openai.key"
    key_file.write_text("sk-audit-first-77\n")
    monkeypatch.setenv("OPENAI_API_KEY_FILE", str(key_file))
    manager = ConfigManager(flags={"home": home})

    manager.secret()
    manager.secret()
    key_file.write_text("sk-audit-second-88\n")
    os.utime(key_file, (key_file.stat().st_atime, key_file.stat().st_mtime + 10))
    manager.secret()

    lines = audit_lines(home)
    assert len(lines) == 3
    assert [line["id"] for line in lines] == [
        fingerprint("sk-audit-first-77"),
        fingerprint("sk-audit-first-77"),
        fingerprint("sk-audit-second-88"),
    ]
    assert {line["secret"] for line in lines} == {"OPENAI_API_KEY"}
    assert {line["source"] for line in lines} == {"OPENAI_API_KEY_FILE"}
    log_text = (home / "audit.log").read_text()
    for key in ("sk-audit-first-77", "sk-audit-second-88"):
        assert not any(key[i : i + 6] in log_text for i in range(len(key) - 5))


def test_key_file_named_in_dotenv_is_rotated(tmp_path: Path, home: Path) -> None:
    """OPENAI_API_KEY_FILE in .env works like the variable, rotation and audit source included."""
    key_file = tmp_path / "dotenv.key"
    key_file.write_text("sk-dotenv-one\n")
    write_env(f"OPENAI_API_KEY_FILE={key_file}\n")
    manager = ConfigManager(flags={"home": home})

    first = manager.secret()
    key_file.write_text("sk-dotenv-two\n")
    os.utime(key_file, (key_file.stat().st_atime, key_file.stat().st_mtime + 10))
    rotated = manager.secret()

    assert first == SecretStr("sk-dotenv-one")
    assert rotated == SecretStr("sk-dotenv-two")
    assert [line["source"] for line in audit_lines(home)] == ["OPENAI_API_KEY_FILE"] * 2


def test_key_variable_beats_key_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, home: Path
) -> None:
    """OPENAI_API_KEY set directly wins over OPENAI_API_KEY_FILE, and the audit says so."""
    key_file = tmp_path / "openai.key"
    key_file.write_text("sk-from-file\n")
    monkeypatch.setenv("OPENAI_API_KEY_FILE", str(key_file))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-variable")
    manager = ConfigManager(flags={"home": home})

    assert manager.secret() == SecretStr("sk-from-variable")
    [line] = audit_lines(home)
    assert line["source"] == "OPENAI_API_KEY"
    assert line["id"] == fingerprint("sk-from-variable")


def test_missing_key_file_is_a_config_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A key file that cannot be read gives a ConfigError naming the variable and path."""
    missing = tmp_path / "nowhere" / "openai.key"
    monkeypatch.setenv("OPENAI_API_KEY_FILE", str(missing))

    error = config_error()

    assert error.exit_code == 2
    assert f"OPENAI_API_KEY_FILE: cannot read {missing}" in str(error)


def test_a_key_file_that_is_not_text_is_one_clear_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, home: Path
) -> None:
    key_file = tmp_path / "openai.key"
    key_file.write_bytes(b"\xff\xfe\x00\x9c binary")
    monkeypatch.setenv("OPENAI_API_KEY_FILE", str(key_file))

    with pytest.raises(ConfigError) as caught:
        ConfigManager(flags={"home": home}).load()

    assert str(caught.value) == (
        f"OPENAI_API_KEY_FILE: {key_file} is not a text file; put the key alone in it as text"
    )


def test_a_rotation_caught_half_written_keeps_the_last_key(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, home: Path
) -> None:
    """A file emptied (written in place, read half way) or gone for a moment keeps the key
    in use; the next complete file is read."""
    key_file = tmp_path / "openai.key"
    key_file.write_text("sk-steady-key-1\n")
    monkeypatch.setenv("OPENAI_API_KEY_FILE", str(key_file))
    manager = ConfigManager(flags={"home": home})
    assert manager.secret() == SecretStr("sk-steady-key-1")

    key_file.write_text("")
    assert manager.secret() == SecretStr("sk-steady-key-1")
    key_file.unlink()
    assert manager.secret() == SecretStr("sk-steady-key-1")
    key_file.write_text("sk-next-key-22\n")
    assert manager.secret(use="POST /v1/embeddings") == SecretStr("sk-next-key-22")

    lines = audit_lines(home)
    assert [line["id"] for line in lines] == [fingerprint("sk-steady-key-1")] * 3 + [
        fingerprint("sk-next-key-22")
    ]
    assert lines[-1]["use"] == "POST /v1/embeddings"
