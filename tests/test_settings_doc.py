"""docs/settings.md is generated from the settings models, and every setting says what it is for."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel

from settlement.config import Settings, settings_markdown

SETTINGS_DOC = Path(__file__).resolve().parent.parent / "docs" / "settings.md"
MODELS = [Settings] + [field.annotation for field in Settings.model_fields.values()]


def test_settings_doc_is_generated_from_the_models() -> None:
    assert SETTINGS_DOC.read_text() == settings_markdown(), (
        "docs/settings.md is out of date: regenerate it with `python -m settlement.config > docs/settings.md`"
    )


@pytest.mark.parametrize("model", MODELS, ids=lambda model: model.__name__)
def test_every_setting_has_a_description(model: type[BaseModel]) -> None:
    missing = [name for name, field in model.model_fields.items() if not (field.description or "").strip()]
    assert not missing, f"{model.__name__}: give these fields a Field(description=...): {missing}"
