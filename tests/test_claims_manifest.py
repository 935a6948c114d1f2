"""The pinned claim sets: docs/claims.json lists every page's claims, and the
checker fails when a page's executed claims differ from it."""

import json
import shutil
from pathlib import Path

import pytest

from helpers import import_file

ROOT = Path(__file__).parents[1]
FIXTURES = Path(__file__).parent / "fixtures" / "claims"
check_claims = import_file(ROOT / "docs" / "check_claims.py")


def test_the_manifest_pins_what_the_pages_declare():
    """A claim removed from (or added to) a page's front matter without the manifest
    changing in the same commit fails here, before any page runs."""
    manifest = json.loads((ROOT / "docs" / "claims.json").read_text())
    assert check_claims.source_manifest(ROOT / "docs") == manifest
    assert len(manifest) >= 10 and sum(map(len, manifest.values())) >= 60


def test_front_matter_is_read_key_by_key(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("---\nfile_format: mystnb\nclaims:\n  - key: a\n    min: 1\n"
                    "    meaning: x\n  - seeds_key: b_seeds\n    min: 0.5\n"
                    "  - key: c\n    seeds_key: c_seeds\n    max: 2\nother: 1\n---\n# Title\n")
    assert check_claims.declared_claims(page) == ["a", "b_seeds", "c"]
    (tmp_path / "plain.md").write_text("# no front matter\n")
    assert check_claims.declared_claims(tmp_path / "plain.md") == []


def test_a_deleted_claim_fails_against_the_manifest(tmp_path, capsys):
    manifest = tmp_path / "claims.json"
    results = check_claims.check_folder(FIXTURES / "holding")
    pinned = {}
    for r in results:
        pinned.setdefault(r.page, []).append(r.key)
    manifest.write_text(json.dumps(pinned))
    holding = str(FIXTURES / "holding")
    assert check_claims.main([holding, "--manifest", str(manifest)]) == 0
    # the page drops one claim: its notebook's metadata no longer declares it
    folder = tmp_path / "thinned"
    shutil.copytree(FIXTURES / "holding", folder)
    ipynb = next(folder.rglob("*.ipynb"))
    notebook = json.loads(ipynb.read_text())
    dropped = notebook["metadata"]["claims"].pop()
    ipynb.write_text(json.dumps(notebook))
    capsys.readouterr()
    assert check_claims.main([str(folder), "--manifest", str(manifest)]) == 1
    err = capsys.readouterr().err
    assert "pinned in the manifest but not declared" in err
    assert dropped.get("key", dropped.get("seeds_key")) in err


@pytest.mark.parametrize("extra", [{"tutorials/study": ["not_a_claim"]}, {"other/page": ["x"]}])
def test_a_claim_the_manifest_lacks_or_pins_elsewhere_fails(tmp_path, extra):
    results = check_claims.check_folder(FIXTURES / "holding")
    pinned = {}
    for r in results:
        pinned.setdefault(r.page, []).append(r.key)
    for page, keys in extra.items():
        pinned[page] = pinned.get(page, []) + keys
    manifest = tmp_path / "claims.json"
    manifest.write_text(json.dumps(pinned))
    assert check_claims.main([str(FIXTURES / "holding"), "--manifest", str(manifest)]) == 1
