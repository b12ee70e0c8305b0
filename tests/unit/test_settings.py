"""Settings, the JWT secret rules, ttl parsing and token claims."""

import os
import stat
from datetime import UTC, datetime, timedelta

import jwt
import pytest

from lingti.settings import (
    ConfigurationError,
    load_settings,
    require_database_url,
    require_temporal_address,
    resolve_jwt_secret,
)
from lingti.tokens import issue_token, parse_ttl

GOOD_SECRET = "s" * 40


@pytest.fixture(autouse=True)
def no_lingti_environment(monkeypatch):
    for name in list(os.environ):
        if name.startswith("LINGTI_"):
            monkeypatch.delenv(name)


def test_defaults_are_production_with_the_documented_values():
    settings = load_settings()
    assert settings.mode == "production"
    assert (settings.api_host, settings.api_port) == ("127.0.0.1", 8000)
    assert settings.task_queue == "lingti-topics"
    assert settings.timezone == "Asia/Shanghai"
    assert settings.log_format == "json"


def test_reads_lingti_prefixed_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("LINGTI_API_PORT", "9000")
    monkeypatch.setenv("LINGTI_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("LINGTI_LOG_FORMAT", "console")
    settings = load_settings()
    assert settings.api_port == 9000
    assert settings.data_dir == tmp_path
    assert settings.log_format == "console"


def test_invalid_value_names_the_variable(monkeypatch):
    monkeypatch.setenv("LINGTI_LOG_LEVEL", "loud")
    with pytest.raises(ConfigurationError, match="LINGTI_LOG_LEVEL"):
        load_settings()


def test_production_without_secret_is_a_startup_error_naming_the_variable():
    with pytest.raises(ConfigurationError, match="LINGTI_JWT_SECRET"):
        resolve_jwt_secret(load_settings())


def test_production_rejects_a_short_secret(monkeypatch):
    monkeypatch.setenv("LINGTI_JWT_SECRET", "too-short")
    with pytest.raises(ConfigurationError, match="LINGTI_JWT_SECRET.*at least 32"):
        resolve_jwt_secret(load_settings())


def test_production_uses_the_configured_secret(monkeypatch):
    monkeypatch.setenv("LINGTI_JWT_SECRET", GOOD_SECRET)
    assert resolve_jwt_secret(load_settings()) == GOOD_SECRET


def test_dev_mode_generates_the_secret_once_and_reuses_it(tmp_path):
    settings = load_settings(mode="dev", data_dir=tmp_path / "data")
    first = resolve_jwt_secret(settings)
    second = resolve_jwt_secret(load_settings(mode="dev", data_dir=tmp_path / "data"))
    secret_file = tmp_path / "data" / "jwt_secret"
    assert first == second
    assert len(first) >= 32
    assert secret_file.read_text().strip() == first
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600


def test_dev_mode_prefers_an_explicit_secret(tmp_path, monkeypatch):
    monkeypatch.setenv("LINGTI_JWT_SECRET", GOOD_SECRET)
    assert resolve_jwt_secret(load_settings(mode="dev", data_dir=tmp_path)) == GOOD_SECRET
    assert not (tmp_path / "jwt_secret").exists()


def test_missing_database_url_and_temporal_address_name_their_variables():
    settings = load_settings()
    with pytest.raises(ConfigurationError, match="LINGTI_DATABASE_URL"):
        require_database_url(settings)
    with pytest.raises(ConfigurationError, match="LINGTI_TEMPORAL_ADDRESS"):
        require_temporal_address(settings)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("30m", timedelta(minutes=30)), ("8h", timedelta(hours=8)), ("7d", timedelta(days=7)), ("45s", timedelta(seconds=45))],
)
def test_ttl_parses_minutes_hours_and_days(text, expected):
    assert parse_ttl(text) == expected


@pytest.mark.parametrize("text", ["", "8", "h", "0h", "-1h", "1w", "1.5h", "8 hours"])
def test_ttl_rejects_anything_else(text):
    with pytest.raises(ValueError, match="like 30m, 8h or 7d"):
        parse_ttl(text)


def test_token_carries_the_claims_and_expires_after_the_ttl():
    now = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
    token = issue_token(
        GOOD_SECRET, sub="u-17", role="branch", org="HQ/SX/TY/B017", name="太原支部", ttl=timedelta(hours=8), now=now
    )
    claims = jwt.decode(token, GOOD_SECRET, algorithms=["HS256"], options={"verify_exp": False})
    assert claims == {
        "sub": "u-17",
        "role": "branch",
        "org": "HQ/SX/TY/B017",
        "name": "太原支部",
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(hours=8)).timestamp()),
    }


def test_token_name_defaults_to_the_subject():
    claims = jwt.decode(issue_token(GOOD_SECRET, sub="alice", role="admin", org="HQ"), GOOD_SECRET, algorithms=["HS256"])
    assert claims["name"] == "alice"


def test_token_rejects_an_unknown_role():
    with pytest.raises(ValueError, match="role 'chairman' is unknown.*branch, business, manager"):
        issue_token(GOOD_SECRET, sub="alice", role="chairman", org="HQ")


def test_token_rejects_a_malformed_org_path():
    with pytest.raises(ValueError, match="organisation path"):
        issue_token(GOOD_SECRET, sub="alice", role="admin", org="HQ//SX")
