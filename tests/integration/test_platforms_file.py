"""The platforms file: the shipped example loads, values come inline, from the environment or a
file, and a wrong one stops start-up naming where it is wrong."""
import base64
from pathlib import Path

import pytest

from adapters.pii import HmacAccountIds
from adapters.platforms.config import PlatformsFileError, load_platforms
from tests.sims.alipay import KeyPair

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "platforms.example.toml"


def load(path, redis_server, environ):
    return load_platforms(str(path), client=redis_server, state_key=b"s" * 32, ids=HmacAccountIds(b"k" * 32),
                          session_ttl=7200, environ=environ)


def test_the_example_file_loads_every_platform(redis_server, tmp_path):
    keys = KeyPair.generate()
    text = EXAMPLE.read_text().replace("/run/secrets/alipay-app-private.pem", str(tmp_path / "app.pem"))
    (tmp_path / "app.pem").write_text(keys.private_pem)
    (tmp_path / "platforms.toml").write_text(text)
    environ = {"HEALTHCODE_WECHAT_SECRET": "s", "HEALTHCODE_WECHAT_PUSH_TOKEN": "t",
               "HEALTHCODE_WECHAT_AES_KEY": "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
               "HEALTHCODE_ALIPAY_PUBLIC_KEY": keys.public_pem,
               "HEALTHCODE_ALIPAY_AES_KEY": base64.b64encode(b"0" * 16).decode(), "HEALTHCODE_GOV_CLIENT_SECRET": "g"}
    platforms = load(tmp_path / "platforms.toml", redis_server, environ)
    assert set(platforms.adapters) == {"wechat", "alipay", "gov"} and len(platforms.notifiers) == 3


@pytest.mark.parametrize("content, where", [
    ('[wechat]\n[[wechat.apps]]\napp_id = "wx1"\nsecret = "s"\n', "token is required"),
    ('[wechat]\n[[wechat.apps]]\napp_id = "wx1"\nsecret = "s"\ntoken = "t"\nsecrett = "x"\n', "unknown keys secrett"),
    ('[wechat]\n[[wechat.apps]]\napp_id = "wx1"\nsecret_env = "NOPE"\ntoken = "t"\n', "NOPE"),
    ('[wechat]\n[[wechat.apps]]\napp_id = "wx1"\nsecret = "s"\nsecret_env = "X"\ntoken = "t"\n', "give one of"),
    ('[weixin]\n', "unknown platforms weixin"),
    ('[wechat]\ntimeout = 5\n', "needs at least one"),
    ("not = [toml", "not TOML"),
])
def test_a_wrong_platforms_file_says_where(redis_server, tmp_path, content, where):
    path = tmp_path / "platforms.toml"
    path.write_text(content)
    with pytest.raises(PlatformsFileError, match=where):
        load(path, redis_server, {})


def test_a_wrong_platforms_file_stops_the_app_naming_the_setting(tmp_path, redis_server):
    from app import create_app
    from tests.conftest import SERVER_URL

    (tmp_path / "p.toml").write_text("[weixin]\n")
    with pytest.raises(RuntimeError, match="HEALTHCODE_PLATFORMS_FILE"):
        create_app({"HEALTHCODE_REDIS_URL": SERVER_URL, "HEALTHCODE_PLATFORMS_FILE": str(tmp_path / "p.toml")})
