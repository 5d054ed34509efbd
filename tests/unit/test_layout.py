"""The layout's import rules (scripts/check_layout.py) hold, and the checker catches a break."""
import importlib.util
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("check_layout", REPO / "scripts" / "check_layout.py")
check_layout = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check_layout)


def test_the_repository_keeps_every_layout_rule():
    assert check_layout.problems(check_layout.graph()) == []


def test_the_checker_flags_a_circle_beam_in_core_a_dag_import_and_a_wrong_way_arrow():
    edges = check_layout.graph()
    edges["pipelines.core.text"] = edges["pipelines.core.text"] | {"apache_beam", "pipelines.core.records"}
    edges["pipelines.core.records"] = edges["pipelines.core.records"] | {"pipelines.core.text"}
    edges["dags.hintq_nightly"] = edges["dags.hintq_nightly"] | {"jobs.nightly"}
    edges["warehouse.files"] = edges["warehouse.files"] | {"online.store"}
    found = "\n".join(check_layout.problems(edges))
    assert "import circle" in found and "pipelines.core.text" in found
    assert "pipelines.core.text: pipelines/core imports Beam" in found
    assert "dags.hintq_nightly: a DAG imports the pipeline environment" in found
    assert "warehouse.files (warehouse) imports online.store: against the layers" in found


def test_every_module_under_pipelines_outside_core_and_engines_is_beam_code():
    edges = check_layout.graph()
    for module in edges:
        if module.startswith("pipelines.") and check_layout.layer(module) in (
                "pipelines.chains", "pipelines.stages", "pipelines.beam") \
                and module not in ("pipelines.stages", "pipelines.beam"):
            assert any(m.startswith("apache_beam") for m in edges[module]), module


def test_night_specification_matches_the_tables_the_cli_offers():
    from pipelines.core.config import NIGHTLY_TABLES, HintQConfig
    from warehouse.tables import NIGHTLY

    assert tuple(NIGHTLY) == NIGHTLY_TABLES
    cfg = HintQConfig()
    assert NIGHTLY["u2q"].k(cfg) == cfg.rank.k and NIGHTLY["x2q"].k(cfg) == cfg.x2q.k
    assert NIGHTLY["u2q"].parts[-1] == "u2q" and NIGHTLY["x2q"].parts == ("x2q",)
