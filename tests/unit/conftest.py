"""Unit-test fixtures: the shipped policy and the core services wired on in-memory fakes."""

import json
from pathlib import Path

import pytest

from core.policy import Policy, load_policy
from tests.unit.fakes import World

POLICY_FILE = Path(__file__).resolve().parents[2] / "policies" / "health-code-policy.json"


@pytest.fixture(scope="session")
def policy_doc() -> dict:
    return json.loads(POLICY_FILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def policy(policy_doc) -> Policy:
    return load_policy(policy_doc)


@pytest.fixture
def world(policy) -> World:
    return World(policy=policy)
