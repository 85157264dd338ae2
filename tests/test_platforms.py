"""sync-job on a machine without POSIX-only modules, as on Windows.

Every module of ``sync_job`` is imported in a fresh Python in which ``fcntl``, ``termios`` and
the other POSIX-only modules cannot be imported, and a dry run goes through ``run_sync`` there.
It cannot prove the job works on Windows, but it does catch the import that made every run on
Windows end in exit 70.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

POSIX_ONLY = ("fcntl", "termios", "tty", "pty", "pwd", "grp", "resource", "syslog")

SCRIPT = r"""
import importlib, importlib.abc, json, pkgutil, sys
from pathlib import Path

BLOCKED = set(json.loads(sys.argv[1]))

class NoPosixOnly(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name in BLOCKED:
            raise ImportError(f"No module named {name!r} (blocked: not on Windows)", name=name)
        return None

for name in BLOCKED:
    sys.modules.pop(name, None)
sys.meta_path.insert(0, NoPosixOnly())

import sync_job
modules = [m.name for m in pkgutil.walk_packages(sync_job.__path__, "sync_job.")
           if m.name != "sync_job.__main__"]  # the script: importing it runs the command
for name in modules:
    importlib.import_module(name)

from sync_job import load_config, run_sync
folder = Path(sys.argv[2])
(folder / "changes.csv").write_text("contactId,names\n1001,Ann\n1002,Bo\n", encoding="utf-8")
(folder / "snapshot.csv").write_text("contactId,names,number,email\n1001,Ann,,\n",
                                     encoding="utf-8")
(folder / "config.yaml").write_text(
    "input:\n  path: changes.csv\nsnapshot:\n  path: snapshot.csv\n"
    "results:\n  path: results.csv\n", encoding="utf-8")
report = run_sync(load_config(folder / "config.yaml", dry_run=True), environ={})
print(json.dumps({"modules": len(modules), "exit_code": int(report.exit_code),
                  "counts": report.counts,
                  "loaded": sorted(BLOCKED & set(sys.modules))}))
"""


def test_every_module_imports_and_a_dry_run_runs_without_posix_only_modules(
        tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-c", SCRIPT, json.dumps(POSIX_ONLY), str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    outcome = json.loads(done.stdout.splitlines()[-1])
    assert outcome["modules"] > 30  # every module was found, not just the package
    assert outcome["exit_code"] == 0
    assert outcome["counts"]["planned"] == 1 and outcome["counts"]["unchanged"] == 1
    assert outcome["loaded"] == []
    assert (tmp_path / "results.csv").exists()
