"""The command line prepares the tools' environment before Prefect reads its settings
(Prefect reads them once, at import): the state folder and the server's start-up timeout
that flows/environment.py sets are the ones Prefect uses."""

from __future__ import annotations

import os
import subprocess
import sys

from flows.environment import PROJECT_ROOT

PROBE = """
import sys
import flows.cli
assert "prefect" not in sys.modules, "importing the CLI imported Prefect"
flows.cli.prepare_environment()
flows.cli.build_parser()
from prefect.settings import get_current_settings
s = get_current_settings()
print(s.server.ephemeral.startup_timeout_seconds, s.home)
"""


def test_prefect_sees_the_environment_the_cli_prepares(tmp_path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(BINAURAL_STATE_DIR=str(tmp_path / "state"), PYTHONPATH=str(PROJECT_ROOT))
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, cwd=PROJECT_ROOT,
                         capture_output=True, text=True, timeout=300, check=True)
    timeout, home = out.stdout.split()
    assert float(timeout) == 120
    assert home == str((tmp_path / "state" / "prefect").resolve())


MODULE = """
import sys
from prefect.settings import get_current_settings  # before the environment, as a flow's

from flows.environment import run_as_prepared

if __name__ == "__main__":
    run_as_prepared("probe_module")
    s = get_current_settings()
    print(s.server.ephemeral.startup_timeout_seconds, s.home, "|".join(sys.argv[1:]))
"""


def test_a_flow_module_run_with_python_m_runs_prepared(tmp_path) -> None:
    """`python -m flows.<module>` (DVC's stages) imports Prefect before its main block can
    prepare anything: run_as_prepared runs the command again in a prepared process."""
    (tmp_path / "probe_module.py").write_text(MODULE)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("PREFECT_") and k != "BINAURAL_ENVIRONMENT_PREPARED"}
    env.update(BINAURAL_STATE_DIR=str(tmp_path / "state"),
               PYTHONPATH=f"{tmp_path}{os.pathsep}{PROJECT_ROOT}")
    out = subprocess.run([sys.executable, "-m", "probe_module", "a", "b c"], env=env,
                         cwd=tmp_path, capture_output=True, text=True, timeout=300, check=True)
    timeout, home, args = out.stdout.rstrip("\n").split(" ", 2)
    assert float(timeout) == 120
    assert home == str((tmp_path / "state" / "prefect").resolve())
    assert args == "a|b c"
