"""Configuration: one `Settings`, read from LINGTI_* environment variables.

`lingti dev` runs in dev mode (embedded PostgreSQL and Temporal, a generated
JWT secret in the data folder); every other process defaults to production,
where nothing security-relevant has a built-in default.
"""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from domain.policy import PARTIES, ControlPolicy

MIN_JWT_SECRET_LENGTH = 32
DEV_JWT_SECRET_FILE = "jwt_secret"
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")


class ConfigurationError(Exception):
    """A setting is missing or unusable; the message names the variable to set."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LINGTI_", extra="ignore")

    mode: Literal["dev", "production"] = "production"
    data_dir: Path = Path(".lingti")
    database_url: str | None = None
    temporal_address: str | None = None
    temporal_namespace: str = "default"
    task_queue: str = "lingti-topics"
    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8000, ge=1, le=65535)
    temporal_port: int = Field(default=7233, ge=1, le=65535)
    temporal_ui_port: int = Field(default=8233, ge=1, le=65535)
    jwt_secret: SecretStr | None = None
    timezone: str = "Asia/Shanghai"
    log_level: str = "info"
    log_format: Literal["json", "console"] = "json"
    # The control loop (ISO-8601 durations, so an operator or an acceptance run can shorten them):
    report_window: timedelta = timedelta(days=15)
    escalation_grace: timedelta = timedelta(days=7)
    posting_period: timedelta = timedelta(days=5)
    evaluation_weights: dict[str, float] = Field(
        default_factory=lambda: {"grassroots": 0.3, "self": 0.1, "peer": 0.2, "leader": 0.4})
    reward_tiers: list[tuple[float, float]] = Field(default_factory=lambda: [(90, 1.0), (75, 0.8), (60, 0.5), (0, 0.0)])
    board_red_share: float = Field(default=0.2, ge=0, le=1)
    board_blue_share: float = Field(default=0.2, ge=0, le=1)
    reward_webhook_url: str | None = None

    @field_validator("log_level")
    @classmethod
    def _known_log_level(cls, value: str) -> str:
        level = value.lower()
        if level not in LOG_LEVELS:
            raise ValueError(f"log level must be one of {', '.join(LOG_LEVELS)}")
        return level

    @field_validator("evaluation_weights")
    @classmethod
    def _four_parties(cls, weights: dict[str, float]) -> dict[str, float]:
        if sorted(weights) != sorted(PARTIES) or abs(sum(weights.values()) - 1) > 1e-6:
            raise ValueError(f"give a weight for each of {', '.join(PARTIES)}, summing to 1, as JSON")
        return weights

    @field_validator("database_url", "temporal_address", "jwt_secret", "reward_webhook_url", mode="before")
    @classmethod
    def _empty_means_unset(cls, value: object) -> object:
        return None if value == "" else value

    @property
    def is_dev(self) -> bool:
        return self.mode == "dev"

    def control_policy(self) -> ControlPolicy:
        """What new topic workflows are started with (running ones keep the policy they started with)."""
        return ControlPolicy(
            report_window=self.report_window, escalation_grace=self.escalation_grace,
            posting_period=self.posting_period, evaluation_weights=self.evaluation_weights,
            reward_tiers=tuple(sorted(self.reward_tiers, reverse=True)),
        )


def load_settings(**overrides: object) -> Settings:
    """Read the environment; turn pydantic's validation report into a start-up error."""
    from pydantic import ValidationError

    try:
        return Settings(**overrides)
    except ValidationError as error:
        problems = "; ".join(
            f"LINGTI_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}"
            for e in error.errors()
        )
        raise ConfigurationError(f"invalid configuration: {problems}") from error


def resolve_jwt_secret(settings: Settings) -> str:
    """The HS256 signing secret: configured, or in dev mode generated once into the data folder."""
    if settings.jwt_secret is not None:
        secret = settings.jwt_secret.get_secret_value()
        if len(secret) < MIN_JWT_SECRET_LENGTH and not settings.is_dev:
            raise ConfigurationError(
                f"LINGTI_JWT_SECRET is only {len(secret)} characters; "
                f"use at least {MIN_JWT_SECRET_LENGTH} random characters "
                "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(48))'`)"
            )
        return secret
    if settings.is_dev:
        return read_or_create_dev_secret(settings.data_dir)
    raise ConfigurationError(
        "LINGTI_JWT_SECRET is not set; production mode has no built-in secret. "
        f"Set LINGTI_JWT_SECRET to at least {MIN_JWT_SECRET_LENGTH} random characters "
        "(or use LINGTI_MODE=dev for a generated development secret)"
    )


def read_or_create_dev_secret(data_dir: Path) -> str:
    """Read `<data_dir>/jwt_secret`, creating it (mode 0600) on first use so tokens survive restarts."""
    path = Path(data_dir) / DEV_JWT_SECRET_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        draft = path.with_name(f".{DEV_JWT_SECRET_FILE}.{os.getpid()}")
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="ascii") as file:
            file.write(secrets.token_urlsafe(48) + "\n")
        try:
            os.link(draft, path)  # atomic publish: a concurrent first start keeps the winner's secret
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return path.read_text(encoding="ascii").strip()


def require_database_url(settings: Settings) -> str:
    if settings.database_url:
        return settings.database_url
    raise ConfigurationError(
        "LINGTI_DATABASE_URL is not set; point it at PostgreSQL "
        "(e.g. postgresql://lingti:PASSWORD@db-host:5432/lingti), or run `lingti dev` for an embedded one"
    )


def require_temporal_address(settings: Settings) -> str:
    if settings.temporal_address:
        return settings.temporal_address
    raise ConfigurationError(
        "LINGTI_TEMPORAL_ADDRESS is not set; point it at the Temporal frontend "
        "(e.g. temporal-frontend:7233), or run `lingti dev` for the embedded dev server"
    )
