"""The spec's test vectors (`../shared/matrix-spec/vectors/` beside the repository), loaded as
they are. A missing vectors directory fails the tests that need it: it never skips them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

VECTORS_DIR = Path(__file__).resolve().parents[2] / ".." / "shared" / "matrix-spec" / "vectors"


def load_vectors(name: str) -> dict[str, Any]:
    path = VECTORS_DIR / name
    if not path.is_file():
        pytest.fail(f"spec test vectors not found at {path.resolve()} (expected ../shared beside the repo)")
    data: dict[str, Any] = json.loads(path.read_text("utf-8"))
    assert data["cases"], f"{name} has no cases"
    return data
