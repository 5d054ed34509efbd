"""The package a remote runner ships (`--setup_file ./setup.py`), installed on its own, runs
a night in Beam's multi-process DirectRunner: the Fn API path of Dataflow, Flink and Spark
workers (DoFns pickled into other processes, set up there, no globals shared with the
launcher)."""
import json
import os
import subprocess
import sys
import sysconfig

import pytest

from tests.conftest import REPO, TINY_DAY

pytestmark = pytest.mark.slow
# Few Think triggers: the test is about the worker processes, not the model's speed.
SMALL_X2Q = ["--set=x2q.top_items=4", "--set=x2q.top_queries=4", "--set=x2q.top_categories=2",
             "--set=x2q.max_cold_items=4"]


def test_the_setup_file_package_alone_runs_a_night_in_worker_processes(tmp_path, tiny_world):
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "setup.py", "-q", "sdist", "--dist-dir", str(dist)], cwd=REPO, check=True,
                   capture_output=True)
    (sdist,) = dist.glob("hintq-*.tar.gz")
    # A venv that holds HintQ only as built from that sdist. The pinned third-party libraries
    # come from the pipeline venv through a .pth line (installing the lock into a fresh venv
    # is what `make` does on every clean CI machine); its editable HintQ does not come along
    # (a .pth line adds a folder, not the .pth files inside it).
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = venv / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
    (site / "pipeline_libs.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--target", str(site), str(sdist)], check=True, capture_output=True)
    python = str(venv / "bin" / "python")
    work = tmp_path / "elsewhere"  # not the repository: nothing imports from a checkout
    work.mkdir()
    env = {**os.environ, "HINTQ_ENGINE_CORES": "0|1", "PYTHONPATH": ""}
    where = subprocess.run([python, "-c", "import jobs, pipelines.core, warehouse; print(jobs.__file__)"],
                           cwd=work, env=env, capture_output=True, text=True, check=True).stdout
    assert where.startswith(str(site)), where
    warehouse = tmp_path / "wh"
    for table in ("x2q", "u2q"):
        done = subprocess.run(
            [python, "-m", "jobs.nightly", f"--table={table}", f"--dt={TINY_DAY}", f"--input={tiny_world}",
             f"--warehouse={warehouse}", "--direct_num_workers=2", "--direct_running_mode=multi_processing",
             *SMALL_X2Q],
            cwd=work, env=env, capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, done.stderr[-3000:]
        assert json.loads(done.stdout.strip().splitlines()[-1])["published"] == f"{table}/dt={TINY_DAY}"
    from warehouse.files import read_published

    manifest, files = read_published(warehouse, "u2q", TINY_DAY)
    assert manifest["rows"] == manifest["stages"]["profile"]["active_users"] > 0
    assert manifest["x2q_fill"]["used"] and all(f.exists() for f in files)
    assert manifest["model"]["generator"]["name"] == "smollm2-135m-instruct", "the real model, in the workers"
