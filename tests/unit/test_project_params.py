"""``tests.project.set_params``: the test project's params are the repository's, changed only
where ``SMALL`` says (a nested section keeps its other values)."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.conftest import ROOT
from tests.project import SMALL, set_params


def test_nested_updates_change_one_value_and_keep_the_rest(tmp_path: Path) -> None:
    (tmp_path / "params.yaml").write_text((ROOT / "params.yaml").read_text())
    before = yaml.safe_load((tmp_path / "params.yaml").read_text())
    set_params(tmp_path, {**SMALL, "privacy": {"key_source": "secret"}, "new": {"a": {"b": 1}}})
    after = yaml.safe_load((tmp_path / "params.yaml").read_text())
    cf_before = before["compare"]["counterfactual"]
    cf_after = after["compare"]["counterfactual"]
    small = SMALL["compare"]["counterfactual"]
    assert {k: cf_after[k] for k in small} == small
    assert {k: v for k, v in cf_after.items() if k not in small} == {
        k: v for k, v in cf_before.items() if k not in small
    }
    assert cf_after.keys() == cf_before.keys()
    assert after["compare"]["n_boot"] == SMALL["compare"]["n_boot"]
    assert after["compare"]["seed"] == before["compare"]["seed"]
    assert after["demo"]["n_accounts"] == SMALL["demo"]["n_accounts"]
    assert after["demo"]["reply_trait_correlation"] == before["demo"]["reply_trait_correlation"]
    assert after["topics"]["k_grid"] == SMALL["topics"]["k_grid"]
    assert after["topics"]["seed"] == before["topics"]["seed"]
    assert after["privacy"]["key_source"] == "secret"
    assert after["new"] == {"a": {"b": 1}}
    assert after.keys() - {"new"} == before.keys()


#: Each adversary gate (compare.gates.adversaries) and the grid of strengths it reads.
GATE_GRIDS = {
    "ring": "ring_sizes",
    "puppets": "puppet_sizes",
    "spam_replies": "spam_replier_shares",
    "reply_all": "reply_all_sizes",
    "self_chain": "self_chain_lengths",
    "exchange": "exchange_lengths",
}


def test_the_shared_project_runs_every_gate_at_its_strength() -> None:
    """``SMALL`` runs each adversary at one strength: the one its gate reads. A gate whose
    strength is not on the curve is left out of the results without an error
    (``cf_report.gate_results``), so a gate moved in params.yaml and not here would go untested."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    gates = params["compare"]["gates"]["adversaries"]
    small = SMALL["compare"]["counterfactual"]
    assert set(gates) == set(GATE_GRIDS), sorted(set(gates) ^ set(GATE_GRIDS))
    for adversary, grid in GATE_GRIDS.items():
        assert gates[adversary]["at"] in small[grid], (adversary, gates[adversary]["at"], grid)
