"""The claims checker, on small fixture files (no notebook is executed)."""

import importlib.util
import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
FIXTURES = Path(__file__).parent / "fixtures" / "claims"

spec = importlib.util.spec_from_file_location("check_claims", ROOT / "docs" / "check_claims.py")
check_claims = importlib.util.module_from_spec(spec)
sys.modules["check_claims"] = check_claims  # dataclasses look their module up
spec.loader.exec_module(check_claims)


def test_all_claims_holding_pass(capsys):
    assert check_claims.main([str(FIXTURES / "holding")]) == 0
    out = capsys.readouterr().out
    assert "all 3 claims hold" in out
    assert re.search(r"initial_test_acc\s+in \[0\.33, 0\.67\]\s+0\.546875\s+-\s+pass", out)


def test_a_broken_claim_fails_with_a_table(capsys):
    results = {r.key: r for r in check_claims.check_folder(FIXTURES / "failing")}
    assert results["final_test_acc"].status == "FAIL"
    assert results["final_test_acc"].measured == 0.90625
    assert results["initial_test_acc"].status == "pass"
    assert check_claims.main([str(FIXTURES / "failing")]) == 1
    captured = capsys.readouterr()
    assert re.search(r"final_test_acc\s+>= 0\.98\s+0\.90625\s+-\s+FAIL", captured.out)
    assert "1 of 3 claims do not hold" in captured.err
    assert "measured 0.90625, bound >= 0.98" in captured.err


def test_a_declared_key_never_glued_fails(capsys):
    results = check_claims.check_folder(FIXTURES / "missing")
    status = {(r.page, r.key): r.status for r in results}
    assert status[("tutorials/study", "initial_test_acc")] == "MISSING"
    assert status[("tutorials/no_glue_file", "n")] == "MISSING"
    assert status[("tutorials/study", "final_test_acc")] == "pass"
    assert check_claims.main([str(FIXTURES / "missing")]) == 1
    assert "initial_test_acc was never glued" in capsys.readouterr().err


def test_no_claims_at_all_is_a_failure(capsys, tmp_path):
    assert check_claims.main([str(FIXTURES / "no_claims")]) == 1
    assert check_claims.main([str(tmp_path / "not_built")]) == 1
    assert "no claims found" in capsys.readouterr().err


def test_a_claim_without_bound_is_rejected(tmp_path):
    (tmp_path / "bad.ipynb").write_text('{"metadata": {"claims": [{"key": "x"}]}, "cells": []}')
    with pytest.raises(ValueError, match="min and/or max"):
        check_claims.check_folder(tmp_path)


def test_nan_never_passes(tmp_path):
    (tmp_path / "n.ipynb").write_text('{"metadata": {"claims": [{"key": "x", "max": 1}]}, "cells": []}')
    (tmp_path / "n.glue.json").write_text('{"x": {"data": {"text/plain": "nan"}}}')
    assert check_claims.check_folder(tmp_path)[0].status == "FAIL"


def test_per_seed_rates_are_counted_and_can_be_required(capsys):
    results = {r.key: r for r in check_claims.check_folder(FIXTURES / "seeds")}
    # no rate stated: every seed must hold, and 3/4 is not every seed
    assert results["final_test_acc"].seeds == "3/4 (need 4)"
    assert results["final_test_acc"].status == "FAIL"
    assert results["first_perfect_epoch"].seeds == "3/4 (need 3)"
    assert results["first_perfect_epoch"].status == "pass"
    assert check_claims.main([str(FIXTURES / "seeds")]) == 1
    out = capsys.readouterr().out
    assert re.search(r"final_test_acc\s+>= 0\.98\s+1\s+3/4 \(need 4\)\s+FAIL", out)

    low = check_claims.check_folder(FIXTURES / "seeds_low")[0]
    assert (low.seeds, low.status) == ("2/4 (need 3)", "FAIL")
    missing = check_claims.check_folder(FIXTURES / "seeds_missing")[0]
    assert missing.status == "MISSING"
    assert check_claims.main([str(FIXTURES / "seeds_missing")]) == 1
    assert "has no per-seed values glued" in capsys.readouterr().err


def test_a_rate_claim_over_seeds_alone(tmp_path):
    claim = {"seeds_key": "acc_seeds", "min": 0.98, "min_seed_rate": 0.5, "meaning": "rate"}
    (tmp_path / "r.ipynb").write_text(
        '{"metadata": {"claims": [%s]}, "cells": []}' % json.dumps(claim))
    glue = lambda v: json.dumps({"acc_seeds": {"data": {"text/plain": repr(v)}}})
    (tmp_path / "r.glue.json").write_text(glue([1.0, 0.5, 0.99, 0.7]))
    result = check_claims.check_folder(tmp_path)[0]
    assert (result.key, result.measured, result.status) == ("acc_seeds", 0.5, "pass")
    (tmp_path / "r.glue.json").write_text(glue([1.0, 0.5, 0.6, 0.7]))
    result = check_claims.check_folder(tmp_path)[0]
    assert (result.measured, result.status) == (0.25, "FAIL")


def test_a_rate_over_seeds_bounded_from_above(tmp_path):
    """Prose that says a recipe fails on some seeds: the rate must stay below 1."""
    claim = {"seeds_key": "acc_seeds", "min": 0.98, "min_seed_rate": 0.25,
             "max_seed_rate": 0.75, "meaning": "works, but not for every seed"}
    (tmp_path / "r.ipynb").write_text(
        '{"metadata": {"claims": [%s]}, "cells": []}' % json.dumps(claim))
    glue = lambda v: json.dumps({"acc_seeds": {"data": {"text/plain": repr(v)}}})
    (tmp_path / "r.glue.json").write_text(glue([1.0, 0.5, 0.99, 0.7]))
    result = check_claims.check_folder(tmp_path)[0]
    assert (result.seeds, result.status) == ("2/4 (need 1 to 3)", "pass")
    (tmp_path / "r.glue.json").write_text(glue([1.0, 0.99, 0.99, 0.985]))
    result = check_claims.check_folder(tmp_path)[0]
    assert (result.seeds, result.status) == ("4/4 (need 1 to 3)", "FAIL")
