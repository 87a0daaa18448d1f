"""The operator commands: credentials and the signing key ring."""


def test_credentials_create_prints_a_token_once_that_works(app, client):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["credentials", "create", "--role", "checkpoint", "--name", "东门"])
    assert result.exit_code == 0
    token = result.stdout.strip().splitlines()[-1]
    assert token.startswith("hcc_")
    response = client.post("/api/v1/scans", json={"qr": "x"}, headers={"Authorization": "Bearer " + token})
    assert response.status_code == 200 and response.json["reason"] == "malformed"
    listed = runner.invoke(args=["credentials", "list"]).stdout
    assert "checkpoint" in listed and token not in listed
    credential_id = listed.split()[0]
    assert runner.invoke(args=["credentials", "revoke", credential_id]).exit_code == 0
    response = client.post("/api/v1/scans", json={"qr": "x"}, headers={"Authorization": "Bearer " + token})
    assert response.status_code == 401


def test_credentials_reject_unknown_roles(app):
    result = app.test_cli_runner().invoke(args=["credentials", "create", "--role", "god", "--name", "x"])
    assert result.exit_code != 0


def test_keys_rotate_and_retire(app, client):
    runner = app.test_cli_runner()
    old = client.get("/.well-known/health-code-keys").json["keys"][0]["kid"]
    new = runner.invoke(args=["keys", "rotate"]).stdout.strip()
    assert new and new != old
    assert {k["kid"] for k in client.get("/.well-known/health-code-keys").json["keys"]} == {old, new}
    assert runner.invoke(args=["keys", "retire", new]).exit_code != 0  # the active key signs
    assert runner.invoke(args=["keys", "retire", old]).exit_code == 0
    assert [k["kid"] for k in client.get("/.well-known/health-code-keys").json["keys"]] == [new]


def test_a_kid_beginning_with_a_dash_is_a_kid_not_an_option(app):
    result = app.test_cli_runner().invoke(args=["keys", "retire", "-AbCdEfGhIjK"])
    assert result.exit_code == 1 and "No such option" not in result.output and "-AbCdEfGhIjK" in result.output


def test_a_wrong_setting_stops_the_cli_with_one_line_naming_it(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "HEALTHCODE_CODE_TTL": "soon", "HEALTHCODE_DATA_DIR": str(tmp_path / "redis")}
    result = subprocess.run([sys.executable, "-m", "flask", "--app", "app", "routes"], cwd=root, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == ["healthcode: HEALTHCODE_CODE_TTL must be an integer, not 'soon'"]
    assert not (tmp_path / "redis").exists()  # stopped before it started anything
