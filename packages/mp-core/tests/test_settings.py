from pathlib import Path

import pytest

from mp_core.settings import ConfigError, Settings, env_value


def test_defaults_follow_the_design() -> None:
    settings = Settings.from_env({})
    assert settings.retrain_threshold == 50
    assert settings.drift_threshold == 0.3
    assert settings.retrain_min_rows == 1000
    assert settings.api_port == 8080 and settings.ui_port == 8081
    assert settings.admin_token is None
    assert settings.prod_data_path == Path("data/prod_data.csv")
    assert settings.ref_data_path == Path("data/ref_data.csv")


def test_values_come_from_the_environment() -> None:
    settings = Settings.from_env(
        {
            "DATA_DIR": "/srv/d",
            "RETRAIN_THRESHOLD": "7",
            "DRIFT_THRESHOLD": "0.5",
            "ADMIN_TOKEN": "s3cret",
            "LOG_FORMAT": "json",
        }
    )
    assert settings.data_dir == Path("/srv/d")
    assert settings.retrain_threshold == 7
    assert settings.drift_threshold == 0.5
    assert settings.admin_token == "s3cret"
    assert settings.log_format == "json"


def test_empty_values_mean_default() -> None:
    assert Settings.from_env({"ADMIN_TOKEN": "", "API_PORT": ""}).admin_token is None


@pytest.mark.parametrize(("name", "value"), [("API_PORT", "http"), ("SELECTION_METRIC", "vibes")])
def test_bad_values_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=f"environment variable {name}"):
        Settings.from_env({name: value})


def test_a_name_file_variable_reads_the_secret_from_a_file(tmp_path: Path) -> None:
    secret = tmp_path / "admin_token"
    secret.write_text("from-a-file\n")
    settings = Settings.from_env({"ADMIN_TOKEN_FILE": str(secret)})
    assert settings.admin_token == "from-a-file"
    assert env_value({"ADMIN_TOKEN_FILE": str(secret)}, "ADMIN_TOKEN") == "from-a-file"
    assert env_value({"ADMIN_TOKEN": "plain"}, "ADMIN_TOKEN") == "plain"
    assert env_value({}, "ADMIN_TOKEN") is None


def test_a_name_file_variable_that_cannot_be_read_names_itself(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"ADMIN_TOKEN_FILE: cannot read .*missing"):
        Settings.from_env({"ADMIN_TOKEN_FILE": str(tmp_path / "missing")})


def test_a_variable_and_its_file_together_are_refused(tmp_path: Path) -> None:
    secret = tmp_path / "token"
    secret.write_text("a")
    with pytest.raises(ConfigError, match="ADMIN_TOKEN and ADMIN_TOKEN_FILE: set only one"):
        Settings.from_env({"ADMIN_TOKEN": "b", "ADMIN_TOKEN_FILE": str(secret)})
