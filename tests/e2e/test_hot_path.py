"""The health-code read answered before Flask (blueprints/hot.py) says exactly what the Flask
view says: status, headers, body, metrics; and hands every other case to Flask."""
import json

import pytest

from app import create_app
from blueprints.metrics import REQUESTS
from tests.conftest import SERVER_URL, Api
from tests.unit.fakes import id_number

SECRET = "test-secret-key-0123456789abcdef0123"
VOLATILE = {"qr", "qr_image", "issued_at", "expires_at"}  # a new code each time it is signed


def make(fast: bool) -> Api:
    app = create_app({"HEALTHCODE_REDIS_URL": SERVER_URL, "HEALTHCODE_SECRET_KEY": SECRET, "TESTING": True,
                      "HEALTHCODE_FAST_PATHS": fast, "HEALTHCODE_CODE_CACHE": False})
    return Api(app, app.test_client())


@pytest.fixture
def pair(redis_server):
    fast, slow = make(True), make(False)
    me = fast.login()
    person = fast.apply(me)
    return fast, slow, me, person


def same(a, b) -> None:
    assert a.status_code == b.status_code
    assert sorted((k, v) for k, v in a.headers.items() if k not in ("Content-Length", "Age")) == \
        sorted((k, v) for k, v in b.headers.items() if k not in ("Content-Length", "Age"))
    left, right = json.loads(a.get_data()), json.loads(b.get_data())
    if a.status_code == 200:
        assert set(left) == set(right) and "Age" in a.headers and "Age" in b.headers
        left, right = ({k: v for k, v in d.items() if k not in VOLATILE} for d in (left, right))
    assert left == right


@pytest.mark.parametrize("query", ["", "?lang=en", "?image=svg", "?lang=en&image=svg", "?image=svg&lang=zh"])
def test_the_answer_is_the_flask_views(pair, query):
    fast, slow, me, person = pair
    path = f"/api/v1/persons/{person['id']}/health-code{query}"
    fast.mark({"id_number": "11010519491231002X", "kind": "secondary_contact", "reason": "流调"})
    same(fast.client.get(path, headers=me), slow.client.get(path, headers=me))


@pytest.mark.parametrize("case", ["bad token", "no token", "other person", "unknown query", "bad lang",
                                  "not verified", "post"])
def test_everything_else_is_flasks_answer(pair, case):
    fast, slow, me, person = pair
    path, headers, method = f"/api/v1/persons/{person['id']}/health-code", me, "get"
    if case == "bad token":
        headers = {"Authorization": me["Authorization"][:-3] + "xyz"}
    elif case == "no token":
        headers = {}
    elif case == "other person":
        path = "/api/v1/persons/" + "0" * 24 + "/health-code"
    elif case == "unknown query":
        path += "?lang=zh&x=1"
    elif case == "bad lang":
        path += "?lang=fr"
    elif case == "not verified":
        other = fast.login("bob")
        relative = fast.apply(other, relation="family", verify=False, name="李四",
                              id_number=id_number(born="20100101", sequence="013"))
        path, headers = f"/api/v1/persons/{relative['id']}/health-code", other
    elif case == "post":
        method = "post"
    answers = [getattr(api.client, method)(path, headers=headers) for api in (fast, slow)]
    assert answers[0].status_code >= 400 or case == "unknown query"  # Flask ignores unknown query fields
    same(*answers)


def test_the_read_is_counted_as_the_views(pair):
    fast, _, me, person = pair
    counter = REQUESTS.labels("citizen.health_code", "GET", "200")
    before = counter._value.get()
    assert fast.client.get(f"/api/v1/persons/{person['id']}/health-code", headers=me).status_code == 200
    assert counter._value.get() == before + 1
