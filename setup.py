"""Build hook: the wheel carries the playbooks, roles, inventories and plugins.

Everything else is in pyproject.toml. The data is copied into ``doctor_tests/_data``
of the build (doctor_tests.paths.data_root finds it there), so an installed package
runs the same playbooks as the source checkout.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
ITEMS = ("ansible.cfg", "playbooks", "roles", "inventory", "plugins", "etc", "requirements")
SKIP = shutil.ignore_patterns("__pycache__", "*.pyc", ".*")


class BuildWithData(build_py):
    def run(self) -> None:
        super().run()
        if self.editable_mode:  # an editable install reads the checkout itself
            return
        dest = Path(self.build_lib) / "doctor_tests" / "_data"
        for item in ITEMS:
            src = ROOT / item
            if src.is_dir():
                shutil.copytree(src, dest / item, ignore=SKIP, dirs_exist_ok=True)
            elif src.is_file():
                dest.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, dest / item)


setup(cmdclass={"build_py": BuildWithData})
