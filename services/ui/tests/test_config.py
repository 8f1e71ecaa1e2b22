"""The UI's configuration from the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from mp_core.settings import ConfigError
from mp_ui.config import STATUS_INTERVAL_DOWN, UiConfig


def test_defaults_listen_on_loopback_8081_and_talk_to_8080() -> None:
    config = UiConfig.from_env({})
    assert (config.host, config.port) == ("127.0.0.1", 8081)
    assert config.api_url == "http://127.0.0.1:8080"
    assert config.support_resources_file is None
    assert config.status_interval_down == STATUS_INTERVAL_DOWN
    assert config.report_schedule_hours is None
    assert UiConfig.from_env({"REPORT_SCHEDULE_HOURS": ""}).report_schedule_hours is None


def test_environment_overrides(tmp_path: Path) -> None:
    config = UiConfig.from_env(
        {
            "UI_PORT": "9000",
            "GRADIO_SERVER_NAME": "0.0.0.0",
            "API_URL": "http://serving-api:8080",
            "REPORTS_DIR": str(tmp_path),
            "SUPPORT_RESOURCES_FILE": str(tmp_path / "uk.json"),
            "UI_STATUS_INTERVAL": "1.5",
            "REPORT_SCHEDULE_HOURS": "6",
        }
    )
    assert config.report_schedule_hours == 6.0
    assert (config.host, config.port, config.api_url) == (
        "0.0.0.0",
        9000,
        "http://serving-api:8080",
    )
    assert config.reports_dir == tmp_path
    assert config.support_resources_file == tmp_path / "uk.json"
    assert config.status_interval_down == 1.5
    assert UiConfig.from_env({"UI_HOST": "::1", "GRADIO_SERVER_NAME": "0.0.0.0"}).host == "::1"


@pytest.mark.parametrize(
    ("env", "named"),
    [({"UI_PORT": "web"}, "UI_PORT"), ({"UI_STATUS_INTERVAL": "soon"}, "UI_STATUS_INTERVAL"),
     ({"UI_STATUS_INTERVAL": "0"}, "UI_STATUS_INTERVAL"),
     ({"REPORT_SCHEDULE_HOURS": "daily"}, "REPORT_SCHEDULE_HOURS"),
     ({"REPORT_SCHEDULE_HOURS": "-6"}, "REPORT_SCHEDULE_HOURS"),
     ({"REPORT_SCHEDULE_HOURS": "nan"}, "REPORT_SCHEDULE_HOURS")],
)  # fmt: skip
def test_bad_values_name_the_variable(env: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        UiConfig.from_env(env)
