"""Where alerts go is decided once, at startup, and never silently: the Slack token and config-file rules of
monitor.config (issue 13, item 3). The same cases through the real CLI: tests/e2e/test_alert_startup.py."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from monitor.alerting import alert_destination, make_notifier
from monitor.config import ConfigError, Settings, load_settings

TOKEN = "xoxb-1111-UNIT-SECRET-token"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("MONITOR_"):
            monkeypatch.delenv(name)


def load(monkeypatch: pytest.MonkeyPatch, **env: str | Path) -> Settings:
    for name, value in env.items():
        monkeypatch.setenv(f"MONITOR_{name.upper()}", str(value))
    return load_settings()


def error(monkeypatch: pytest.MonkeyPatch, **env: str | Path) -> str:
    with pytest.raises(ConfigError) as e:
        load(monkeypatch, **env)
    message = str(e.value)
    assert "\n" not in message and TOKEN not in message and "SECRET" not in message
    return message


def token_file(tmp_path: Path, content: str | bytes) -> Path:
    path = tmp_path / "slack-token"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


def token_of(s: Settings) -> str | None:
    return None if s.slack_token is None else s.slack_token.get_secret_value()


# ----------------------------------------------------------------------------- the token and its file


@pytest.mark.parametrize("env_token", ["", " ", "\t\n", "\r\n"])
def test_an_empty_or_blank_token_counts_as_unset_so_the_file_is_used(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, env_token: str,
) -> None:
    # docker-compose passes ${MONITOR_SLACK_TOKEN:-}: the empty string must not beat the token file
    s = load(monkeypatch, slack_token=env_token, slack_token_file=token_file(tmp_path, TOKEN + "\n"))
    assert token_of(s) == TOKEN


@pytest.mark.parametrize("env_token", ["", "   "])
def test_an_empty_token_without_a_file_means_the_console(monkeypatch: pytest.MonkeyPatch, env_token: str) -> None:
    s = load(monkeypatch, slack_token=env_token)
    assert s.slack_token is None
    assert "console" in alert_destination(s)


@pytest.mark.parametrize("content", [TOKEN, TOKEN + "\n", TOKEN + "\r\n", f"  {TOKEN}  \n\n", f"\n{TOKEN}\n"])
def test_the_file_token_is_stripped(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, content: str) -> None:
    assert token_of(load(monkeypatch, slack_token_file=token_file(tmp_path, content))) == TOKEN


def test_the_environment_token_is_stripped(monkeypatch: pytest.MonkeyPatch) -> None:
    assert token_of(load(monkeypatch, slack_token=f" {TOKEN}\n")) == TOKEN


def test_an_empty_token_file_setting_counts_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load(monkeypatch, slack_token_file="", slack_token=TOKEN).slack_token_file is None


@pytest.mark.parametrize(("content", "needle"), [
    ("", "is empty"),
    ("   \n\t\n", "is empty"),
    (f"{TOKEN}\nsecond line\n", "more than one"),
    (f"{TOKEN} {TOKEN}", "more than one"),
    (f"{TOKEN}\x00", "cannot contain"),
    ("xoxb-ü-SECRET", "cannot contain"),
    (b"\xff\xfeSECRET", "not UTF-8"),
    ("x" * 5000, "larger than"),
])
def test_a_bad_token_file_is_a_startup_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, content: str | bytes, needle: str,
) -> None:
    message = error(monkeypatch, slack_token_file=token_file(tmp_path, content))
    assert message.startswith("MONITOR_SLACK_TOKEN_FILE: ") and needle in message, message
    assert str(tmp_path) in message


@pytest.mark.parametrize(("path", "needle"), [
    ("missing", "no such file"),
    ("dir", "is a directory"),
    ("dangling-link", "no such file"),
    ("/etc/hostname/below-a-file", "cannot read it"),
    ("/proc/self/mem", "cannot read it"),  # a regular file that fails on read, even for root
    ("/dev/zero", "not a regular file"),  # would never end
    ("fifo", "not a regular file"),  # would block forever
])
def test_a_token_file_that_cannot_be_read_is_a_startup_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, path: str, needle: str,
) -> None:
    (tmp_path / "dir").mkdir()
    (tmp_path / "dangling-link").symlink_to(tmp_path / "nowhere")
    os.mkfifo(tmp_path / "fifo")
    target = Path(path) if path.startswith("/") else tmp_path / path
    message = error(monkeypatch, slack_token_file=target)
    assert message.startswith("MONITOR_SLACK_TOKEN_FILE: ") and needle in message, message


@pytest.mark.parametrize("value", ["xoxb a", "xoxb\nb", "xoxb-é", "xoxb\tb", "xoxb\x7fb", "xoxb\u202eb"])
def test_a_token_with_spaces_lines_or_odd_characters_is_refused_without_echoing_it(
    monkeypatch: pytest.MonkeyPatch, value: str,
) -> None:
    message = error(monkeypatch, slack_token=value.replace("xoxb", TOKEN))
    assert message.startswith("MONITOR_SLACK_TOKEN: ") and "not shown" in message


def test_token_and_token_file_both_set_is_an_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Whichever won, rotating the other would silently change nothing.
    message = error(monkeypatch, slack_token="xoxb-other", slack_token_file=token_file(tmp_path, TOKEN))
    assert "MONITOR_SLACK_TOKEN" in message and "MONITOR_SLACK_TOKEN_FILE" in message and "both" in message


@pytest.mark.parametrize("channel", ["", "   "])
def test_an_empty_channel_with_a_token_is_an_error(monkeypatch: pytest.MonkeyPatch, channel: str) -> None:
    message = error(monkeypatch, slack_token=TOKEN, slack_channel=channel)
    assert message.startswith("MONITOR_SLACK_CHANNEL: ")


def test_an_empty_channel_without_a_token_is_fine(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load(monkeypatch, slack_channel="").slack_token is None


@pytest.mark.parametrize(("name", "value"), [
    ("slack_channel", "#news alerts"), ("slack_channel", "#news\nalerts"),
    ("slack_base_url", "ftp://slack.example/api/"), ("slack_base_url", "slack.com/api"),
    ("slack_base_url", "https:///api/"),
])
def test_bad_channel_or_base_url_is_an_error(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    assert error(monkeypatch, slack_token=TOKEN, **{name: value}).startswith(f"MONITOR_{name.upper()}: ")


def test_the_token_shows_nowhere(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    s = load(monkeypatch, slack_token_file=token_file(tmp_path, TOKEN))
    assert TOKEN not in repr(s) and TOKEN not in str(s) and TOKEN not in s.model_dump_json()
    assert TOKEN not in alert_destination(s)


def test_startup_says_where_alerts_go(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="monitor.alerting")
    s = load(monkeypatch, slack_token=TOKEN, slack_channel="#risk", slack_base_url="https://proxy.example:8443/api/")
    make_notifier(s)
    assert "surge alerts go to Slack channel #risk via proxy.example" in caplog.text
    assert TOKEN not in caplog.text
    caplog.clear()
    monkeypatch.delenv("MONITOR_SLACK_TOKEN")
    make_notifier(load_settings())
    warning = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert warning and "the log and the console only" in warning[0].getMessage()


# ----------------------------------------------------------------------------- MONITOR_CONFIG_FILE


def test_a_config_file_is_read_and_the_environment_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    toml = tmp_path / "monitor.toml"
    tok = token_file(tmp_path, TOKEN + "\n")
    toml.write_text(f'slack_channel = "#from-file"\nkafka_topic = "file-topic"\nslack_token_file = "{tok}"\n'
                    "kafka_consumer_options = { max_poll_interval_ms = 5000 }\n")
    s = load(monkeypatch, config_file=toml, kafka_topic="env-topic")
    assert (s.slack_channel, s.kafka_topic, token_of(s)) == ("#from-file", "env-topic", TOKEN)
    assert s.kafka_consumer_options == {"max_poll_interval_ms": 5000}


@pytest.mark.parametrize(("content", "needle"), [
    (None, "no such file"),
    ("kafka_topic = [\n", "not valid TOML"),
    ("kafka_topic = 'a'\nkafka_topic = 'b'\n", "not valid TOML"),
    (b"kafka_topic = '\xff'\n", "not UTF-8"),
    ("slack_tokn = 'xoxb-1111-UNIT-SECRET-token'\n", "unknown setting 'slack_tokn'"),
    ("MONITOR_SLACK_CHANNEL = '#x'\n", "unknown setting"),
    ("batch_max_size = 0\n", "MONITOR_BATCH_MAX_SIZE"),
])
def test_a_bad_config_file_is_a_startup_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, content: str | bytes | None, needle: str,
) -> None:
    toml = tmp_path / "monitor.toml"
    if isinstance(content, bytes):
        toml.write_bytes(content)
    elif content is not None:
        toml.write_text(content)
    message = error(monkeypatch, config_file=toml)
    assert needle in message, message


@pytest.mark.parametrize("path", ["dir", "/proc/self/mem", "/dev/zero"])
def test_a_config_file_that_cannot_be_read_is_a_startup_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, path: str,
) -> None:
    (tmp_path / "dir").mkdir()
    message = error(monkeypatch, config_file=Path(path) if path.startswith("/") else tmp_path / path)
    assert message.startswith("MONITOR_CONFIG_FILE: "), message


def test_an_empty_config_file_setting_means_none(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load(monkeypatch, config_file="").kafka_topic == "news"


def test_a_config_file_with_a_token_and_an_environment_token_file_conflict(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    toml = tmp_path / "monitor.toml"
    toml.write_text('slack_token = "xoxb-from-the-config-file"\n')
    assert "both" in error(monkeypatch, config_file=toml, slack_token_file=token_file(tmp_path, TOKEN))
