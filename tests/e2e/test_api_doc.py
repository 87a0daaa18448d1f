"""docs/api.md is the contract as the running app describes it (kept in step with /openapi.json)."""
import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_docs_api_md_is_the_current_openapi(client):
    spec = importlib.util.spec_from_file_location("api_doc", ROOT / "scripts" / "api_doc.py")
    api_doc = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(api_doc)
    current = api_doc.render(client.get("/openapi.json").json)
    assert (ROOT / "docs" / "api.md").read_text(encoding="utf-8") == current, \
        "docs/api.md is out of date: run .venv/bin/python scripts/api_doc.py > docs/api.md"
