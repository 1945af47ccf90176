from __future__ import annotations

from pathlib import Path

import pytest

from textgate.settings import Settings, SettingsError

PEPPER = "ab" * 32


def test_defaults_are_sqlite_under_var() -> None:
    s = Settings.from_sources({}, {})
    assert s.database_url == "sqlite:///var/textgate.db"
    assert s.is_sqlite and s.port == 8000 and s.sqlite_synchronous == "FULL"
    assert s.pepper is None and s.signup_credit_micros is None


def test_environment_wins_over_file() -> None:
    s = Settings.from_sources(
        {"TEXTGATE_PORT": "9000", "TEXTGATE_PEPPER": PEPPER},
        {"server": {"port": 7000, "host": "0.0.0.0"}},
    )
    assert s.port == 9000 and s.host == "0.0.0.0" and s.pepper == bytes.fromhex(PEPPER)


def test_providers_and_routes_from_file() -> None:
    s = Settings.from_sources(
        {},
        {
            "providers": {"carrier": {"type": "smpp", "host": "127.0.0.1"}},
            "routes": [{"prefix": "+", "providers": ["carrier"]}],
        },
    )
    assert s.providers["carrier"]["type"] == "smpp"
    assert s.routes[0]["providers"] == ["carrier"]


@pytest.mark.parametrize(
    ("env", "words"),
    [
        ({"TEXTGATE_DATABASE_URL": "mysql://x"}, "DATABASE_URL"),
        ({"TEXTGATE_PORT": "eighty"}, "PORT must be an integer"),
        ({"TEXTGATE_PORT": "70000"}, "between"),
        ({"TEXTGATE_PEPPER": "abcd"}, "at least 32 bytes"),
        ({"TEXTGATE_PEPPER": "zz" * 32}, "must be hex"),
        ({"TEXTGATE_SQLITE_SYNCHRONOUS": "OFF"}, "SYNCHRONOUS"),
        ({"TEXTGATE_SIGNUP_CREDIT": "0.0000001"}, "SIGNUP_CREDIT"),
        ({"TEXTGATE_LEASE_SECONDS": "-1"}, "must not be negative"),
    ],
)
def test_unsafe_or_wrong_values_are_refused(env: dict[str, str], words: str) -> None:
    with pytest.raises(SettingsError, match=words):
        Settings.from_sources(env, {})


def test_config_file_errors_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "textgate.toml"
    bad.write_text("[providers\n")
    with pytest.raises(SettingsError, match="cannot read config file"):
        Settings.load({"TEXTGATE_CONFIG": str(bad)})
