"""The notice a person agrees to before applying (申领须知): data, versioned like the policy."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.policy import PolicyError, Text, text_of


@dataclass(frozen=True)
class Notice:
    version: str
    title: Text
    items: tuple[Text, ...]


def load_notice(doc: Any) -> Notice:
    """A Notice from its JSON document; PolicyError says what is wrong."""
    if not isinstance(doc, dict) or not isinstance(doc.get("version"), str) or not doc["version"]:
        raise PolicyError("notice needs a string 'version'")
    items = doc.get("items")
    if not isinstance(items, list) or not items:
        raise PolicyError("notice needs 'items'")
    return Notice(
        version=doc["version"],
        title=text_of(doc.get("title"), "title"),
        items=tuple(text_of(item, f"items[{n}]") for n, item in enumerate(items)),
    )
