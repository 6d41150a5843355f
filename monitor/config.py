"""One typed settings object, read once at the edge (DESIGN §3, habit 6).

Environment variables with the prefix MONITOR_, optionally a TOML file named by MONITOR_CONFIG_FILE
(environment wins over the file). Secrets are SecretStr: they never show in logs or reprs.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from monitor.config_files import ConfigError, read_token_file, read_toml, valid_token

DEFAULT_EMBEDDED_DATA_DIR = Path("monitor-data/postgres")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MONITOR_", extra="ignore")

    # None: the embedded PostgreSQL server on embedded_data_dir (storage/embedded.py).
    # SecretStr: it may hold a password.
    database_url: SecretStr | None = None
    embedded_data_dir: Path = DEFAULT_EMBEDDED_DATA_DIR  # relative paths: to the working directory

    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    kafka_topic: str = "news"
    kafka_group_id: str = "news-monitor"
    # Extra kafka-python KafkaConsumer options as JSON, e.g. {"max_poll_interval_ms": 5000} or SASL/SSL.
    # NoDecode: our validator parses the JSON, so a bad value gets our clear message, not pydantic's.
    kafka_consumer_options: Annotated[dict[str, Any], NoDecode] = Field(default_factory=dict)

    batch_max_size: int = Field(256, ge=1, le=10_000)
    batch_max_wait_ms: int = Field(200, ge=1)
    # A batch also closes at this many bytes of message values: 256 messages just under max_message_bytes would
    # otherwise be held (raw, decoded, and again while stored) twice over, the in-flight batch and the next.
    batch_max_bytes: int = Field(32 * 1024 * 1024, ge=1)
    max_message_bytes: int = Field(1_000_000, ge=1024)
    dead_letter_max_bytes: int = Field(64 * 1024, ge=0)  # raw bytes kept per dead letter
    # Circuit breaker (monitor.breaker): `monitor run` stops when more than this share of the last
    # invalid_window_messages was invalid (once invalid_min_messages were seen). A healthy feed has well under
    # 1 % invalid; half is a broken producer or the wrong topic. 1 disables the breaker.
    max_invalid_ratio: float = Field(0.5, gt=0, le=1)
    invalid_window_messages: int = Field(1000, ge=1)
    invalid_min_messages: int = Field(100, ge=1)

    model_path: Path | None = None  # None: a checkpoint shipped inside the package, chosen by `model`
    # Which shipped checkpoint (model.checkpoint.pick_shipped): auto = the fast one on a CPU without bf16 units
    # (when one is shipped), the accurate one on a GPU or a bf16 CPU. MONITOR_MODEL_PATH overrides it.
    model: Literal["auto", "fast", "accurate"] = "auto"
    device: Literal["auto", "cpu", "cuda"] = "auto"
    model_batch_size: int = Field(128, ge=1)
    max_tokens: int = Field(128, ge=8, le=512)

    slack_token: SecretStr | None = None
    slack_token_file: Path | None = None
    slack_channel: str = "#news-alerts"
    slack_base_url: str = "https://slack.com/api/"

    detect_interval_seconds: int = Field(60, ge=1)
    # Surge detection thresholds (alerts.surge.Thresholds; README "Alerts" explains each).
    alert_window_minutes: int = Field(60, ge=5, le=24 * 60)  # the sliding window a surge is judged over
    alert_alpha: float = Field(0.001, gt=0, lt=1)  # per run, over the keys tested (alert_correction)
    alert_correction: Literal["bh", "bonferroni"] = "bh"  # Benjamini-Hochberg or Bonferroni over the keys
    alert_weigh_scopes: bool = False  # market, topics and tickers each get a third of alert_alpha
    alert_min_stories: int = Field(5, ge=1)  # distinct stories in the window (5: as many as min_negative)
    alert_min_negative: int = Field(5, ge=1)  # distinct negative stories in the window
    alert_min_odds_ratio: float = Field(2.0, ge=1)  # effect size to fire
    alert_resolve_odds_ratio: float = Field(1.5, ge=1)  # hysteresis: resolves below this odds ratio ...
    alert_resolve_p_value: float = Field(0.05, gt=0, le=1)  # ... or above this uncorrected p-value
    alert_repeat_interval_minutes: int = Field(240, ge=1)  # re-notify a still-open alert this often
    alert_seasonal_weeks: int = Field(4, ge=1, le=52)  # hour-of-week baseline: how many past weeks
    alert_pool_strength: float = Field(200.0, ge=0)  # stories of a key's all-hours share in its hourly baseline
    alert_volume_strength: float = Field(100.0, gt=0)  # k: volume wanders 1/sqrt(k) around its seasonal level
    alert_burst_prior: float = Field(0.05, gt=0, lt=1)  # prior probability that a window's volume is a burst
    http_host: str = "127.0.0.1"
    http_port: int = Field(8000, ge=0, le=65535)
    log_level: str = "INFO"
    log_format: Literal["text", "json"] = "text"

    @field_validator("kafka_consumer_options", mode="before")
    @classmethod
    def _json_object(cls, v: Any) -> Any:
        if isinstance(v, str):
            try:
                v = json.loads(v) if v.strip() else {}
            except json.JSONDecodeError as e:
                raise ValueError(f"not a JSON object: {e.msg}") from None
        if not isinstance(v, dict):
            raise ValueError("must be a JSON object")
        return v

    @field_validator("slack_token", mode="before")
    @classmethod
    def _token(cls, v: Any) -> Any:
        # docker-compose passes ${MONITOR_SLACK_TOKEN:-}: an empty (or blank) token means "not set", so that
        # MONITOR_SLACK_TOKEN_FILE is used. ConfigError, not ValueError: the value must never be echoed.
        raw = v.get_secret_value() if isinstance(v, SecretStr) else v
        if isinstance(raw, str):
            raw = raw.strip()
            if not raw:
                return None
            if not valid_token(raw):
                raise ConfigError("MONITOR_SLACK_TOKEN: holds spaces, several lines or characters a token cannot "
                                  "contain (the value is not shown)")
            return SecretStr(raw)
        return v

    @field_validator("database_url", mode="before")
    @classmethod
    def _blank_url_is_unset(cls, v: Any) -> Any:
        raw = v.get_secret_value() if isinstance(v, SecretStr) else v
        return None if isinstance(raw, str) and not raw.strip() else v

    @field_validator("slack_token_file", mode="before")
    @classmethod
    def _blank_path_is_unset(cls, v: Any) -> Any:
        return None if isinstance(v, str) and not v.strip() else v

    @field_validator("slack_channel")
    @classmethod
    def _channel(cls, v: str) -> str:
        v = v.strip()
        if any(c.isspace() or not c.isprintable() for c in v):
            raise ValueError("a channel name or id cannot hold spaces or control characters")
        return v

    @field_validator("slack_base_url")
    @classmethod
    def _base_url(cls, v: str) -> str:
        from urllib.parse import urlsplit

        v = v.strip()
        try:
            parts = urlsplit(v)
        except ValueError:
            parts = None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL, e.g. https://slack.com/api/")
        return v

    @model_validator(mode="after")
    def _token_from_file(self) -> Settings:
        if self.slack_token_file is not None:
            if self.slack_token is not None:
                # Two sources of one secret: whichever won, rotating the other would silently do nothing.
                raise ConfigError("MONITOR_SLACK_TOKEN and MONITOR_SLACK_TOKEN_FILE are both set: set only one")
            self.slack_token = SecretStr(read_token_file(self.slack_token_file))
        if self.slack_token is not None and not self.slack_channel:
            raise ConfigError("MONITOR_SLACK_CHANNEL: empty while a Slack token is set; name the channel alerts go to")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        toml = os.environ.get("MONITOR_CONFIG_FILE", "").strip()
        if toml:  # named: it must be there and valid (monitor.config_files), never silent defaults
            sources.append(_TomlFile(settings_cls, read_toml(Path(toml), settings_cls.model_fields)))
        return tuple(sources)


class _TomlFile(PydanticBaseSettingsSource):
    """The values of MONITOR_CONFIG_FILE, already read and checked; the environment wins over them."""

    def __init__(self, settings_cls: type[BaseSettings], values: dict[str, Any]) -> None:
        super().__init__(settings_cls)
        self.values = values

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self.values.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self.values)


def load_settings(**overrides: Any) -> Settings:
    from pydantic import ValidationError

    try:
        return Settings(**overrides)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "settings"
        raise ConfigError(f"MONITOR_{where.upper()}: {first['msg'].removeprefix('Value error, ')}") from None
    except OSError as e:
        raise ConfigError(f"cannot read a settings file: {e}") from None
