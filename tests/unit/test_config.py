"""Settings: read once from HEALTHCODE_* into typed fields, every error naming its variable."""
import pytest

from config import Settings, SettingsError, load_settings


def test_defaults_without_environment():
    settings = load_settings(environ={})
    assert settings == Settings(dev_login=True, sms_provider="console", console_cookie_secure=False,
                                redis_wait_replicas=0)
    assert settings.code_ttl == 60 and settings.dev_login_enabled and not settings.production


def test_environment_is_read_as_each_field_s_type():
    settings = load_settings(environ={"HEALTHCODE_CODE_TTL": " 90 ", "HEALTHCODE_CREDENTIAL_CACHE_SECONDS": "0.5",
                                      "HEALTHCODE_DEV_LOGIN": "off", "HEALTHCODE_LOG_LEVEL": "warning"})
    assert (settings.code_ttl, settings.credential_cache_seconds) == (90, 0.5)
    assert settings.dev_login is False and settings.log_level == "WARNING"


def test_redis_mode_is_standalone_or_a_cluster_named_by_any_node_whose_writes_wait_for_a_replica():
    assert load_settings(environ={}).redis_mode == "standalone"
    cluster = load_settings(environ={"HEALTHCODE_REDIS_MODE": "cluster", "HEALTHCODE_REDIS_URL": "redis://n1:7000"})
    assert (cluster.redis_mode, cluster.redis_wait_replicas, cluster.redis_wait_timeout_ms) == ("cluster", 1, 500)
    assert load_settings(environ={"HEALTHCODE_REDIS_URL": "redis://r:6379", "HEALTHCODE_REDIS_MODE": "cluster",
                                  "HEALTHCODE_REDIS_WAIT_REPLICAS": "0"}).redis_wait_replicas == 0
    assert load_settings(environ={"HEALTHCODE_REDIS_WAIT_REPLICAS": "2"}).redis_wait_replicas == 2
    with pytest.raises(SettingsError, match="HEALTHCODE_REDIS_MODE must be one of standalone, cluster"):
        load_settings(environ={"HEALTHCODE_REDIS_MODE": "sentinel"})
    with pytest.raises(SettingsError, match="needs HEALTHCODE_REDIS_URL"):
        load_settings(environ={"HEALTHCODE_REDIS_MODE": "cluster"})  # no embedded cluster
    with pytest.raises(SettingsError, match="HEALTHCODE_REDIS_WAIT_TIMEOUT_MS must be between"):
        load_settings(environ={"HEALTHCODE_REDIS_WAIT_TIMEOUT_MS": "0"})
    with pytest.raises(SettingsError, match="HEALTHCODE_REDIS_WAIT_REPLICAS must be an integer"):
        load_settings(environ={"HEALTHCODE_REDIS_WAIT_REPLICAS": "one"})


def test_overrides_win_over_the_environment():
    assert load_settings({"HEALTHCODE_CODE_TTL": 30}, environ={"HEALTHCODE_CODE_TTL": "90"}).code_ttl == 30


def test_production_turns_the_dev_login_off_and_refuses_it_on():
    assert load_settings(environ={"HEALTHCODE_ENV": "production"}).dev_login is False
    with pytest.raises(SettingsError, match="HEALTHCODE_DEV_LOGIN"):
        load_settings(environ={"HEALTHCODE_ENV": "production", "HEALTHCODE_DEV_LOGIN": "1"})


def test_the_console_cookie_is_secure_in_production_and_cannot_be_turned_off_there():
    assert load_settings(environ={"HEALTHCODE_ENV": "production"}).console_cookie_secure is True
    assert load_settings(environ={"HEALTHCODE_CONSOLE_COOKIE_SECURE": "on"}).console_cookie_secure is True
    assert load_settings(environ={"HEALTHCODE_ENV": "test"}).console_cookie_secure is False
    with pytest.raises(SettingsError, match="HEALTHCODE_CONSOLE_COOKIE_SECURE"):
        load_settings(environ={"HEALTHCODE_ENV": "production", "HEALTHCODE_CONSOLE_COOKIE_SECURE": "off"})


def test_the_console_session_lifetime_and_login_limits_are_checked():
    with pytest.raises(SettingsError, match="HEALTHCODE_CONSOLE_SESSION_TTL"):
        load_settings(environ={"HEALTHCODE_CONSOLE_SESSION_TTL": "172800"})
    with pytest.raises(SettingsError, match="HEALTHCODE_RATE_CONSOLE_LOGIN_USER"):
        load_settings(environ={"HEALTHCODE_RATE_CONSOLE_LOGIN_USER": "often"})


@pytest.mark.parametrize("name, value", [
    ("HEALTHCODE_ENV", "prod"), ("HEALTHCODE_ISSUER", "TOO-LONG-ISSUER"), ("HEALTHCODE_SECRET_KEY", "short"),
    ("HEALTHCODE_SESSION_TTL", "10"), ("HEALTHCODE_HISTORY_RETENTION_DAYS", "0"),
])
def test_an_implausible_value_is_refused_by_name(name, value):
    with pytest.raises(SettingsError, match=name):
        load_settings(environ={name: value})


def test_an_unknown_override_is_refused():
    with pytest.raises(SettingsError, match="HEALTHCODE_CODE_TLL"):
        load_settings({"HEALTHCODE_CODE_TLL": 30}, environ={})
