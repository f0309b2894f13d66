"""The axe-core the accessibility tests run is the release package.json pins."""

from __future__ import annotations

import json
import re

from tests.accessibility import AXE

ROOT = AXE.parents[3]


def test_vendored_axe_core_is_the_pinned_release_with_its_licence():
    pinned = json.loads((ROOT / "package.json").read_text())["devDependencies"]["axe-core"]
    header = AXE.read_text(encoding="utf-8")[:200]

    assert re.match(r"\d+\.\d+\.\d+$", pinned), "pinned exactly, no range"
    assert header.startswith(f"/*! axe v{pinned}\n")
    assert "Mozilla Public" in (AXE.parent / "LICENSE").read_text(encoding="utf-8")
