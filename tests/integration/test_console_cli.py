"""The console-users commands: create (the password asked twice, or read from stdin), list, disable."""
from tests.e2e.console import ConsoleBrowser

PASSWORD = "correct horse battery"


def test_create_asks_for_the_password_twice_and_the_user_can_log_in(app, redis_server):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["console-users", "create", "--username", "li.ming", "--role", "authority"],
                           input=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert "created li.ming: role=authority acts as console:li.ming" in result.output
    assert PASSWORD not in result.output and PASSWORD.encode() not in b"".join(
        redis_server.hvals("hc:{console}:users"))
    assert ConsoleBrowser(app).login("li.ming", PASSWORD).status_code == 302


def test_create_refuses_two_different_passwords(app):
    result = app.test_cli_runner().invoke(
        args=["console-users", "create", "--username", "li.ming", "--role", "authority"],
        input=f"{PASSWORD}\n{PASSWORD}!\n{PASSWORD}\n{PASSWORD}\n")
    assert "do not match" in result.output and result.exit_code == 0  # asked again, then the same twice
    assert app.extensions["healthcode"].console.users()[0].username == "li.ming"


def test_create_reads_the_password_from_stdin_and_says_what_is_wrong(app):
    runner = app.test_cli_runner()
    args = ["console-users", "create", "--username", "wang.fang", "--role", "authority_approver", "--password-stdin"]
    assert runner.invoke(args=args, input="short\n").output.strip().endswith(
        "Error: the password's length is not allowed (password: Length must be between 12 and 256.)")
    assert runner.invoke(args=args, input=f"{PASSWORD}\n").exit_code == 0
    again = runner.invoke(args=args, input=f"{PASSWORD}\n")
    assert again.exit_code == 1 and "this username is taken" in again.output


def test_a_checkpoint_role_has_no_console(app):
    result = app.test_cli_runner().invoke(
        args=["console-users", "create", "--username", "gate.east", "--role", "checkpoint", "--password-stdin"],
        input=f"{PASSWORD}\n")
    assert result.exit_code == 2 and "checkpoint" in result.output


def test_list_shows_roles_and_status_and_disable_stops_the_login(app):
    runner = app.test_cli_runner()
    for name, role in (("li.ming", "authority"), ("chen.jing", "auditor")):
        runner.invoke(args=["console-users", "create", "--username", name, "--role", role, "--password-stdin"],
                      input=f"{PASSWORD}\n")
    rows = [line.split("\t") for line in runner.invoke(args=["console-users", "list"]).output.splitlines()]
    # Users made in the same second come in the users hash's order, which Redis does not keep
    # (the argon2 hashes make it a hashtable, iterated by a per-server random seed).
    assert sorted((r[0], r[1], r[2], r[4]) for r in rows) == [("chen.jing", "auditor", "active", "console:chen.jing"),
                                                              ("li.ming", "authority", "active", "console:li.ming")]
    assert runner.invoke(args=["console-users", "disable", "li.ming"]).output == "disabled li.ming\n"
    assert runner.invoke(args=["console-users", "disable", "nobody"]).exit_code == 1
    listed = {line.split("\t")[0]: line for line in runner.invoke(args=["console-users", "list"]).output.splitlines()}
    assert "\tdisabled\t" in listed["li.ming"] and "\tactive\t" in listed["chen.jing"]
    assert ConsoleBrowser(app).login("li.ming", PASSWORD).status_code == 200  # refused, the same as a wrong password
