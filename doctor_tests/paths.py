"""Where Doctor's data lives: playbooks, roles, inventories, Ansible plugins, etc/.

From a source checkout they are the checkout's own folders; an installed wheel carries
a copy under ``doctor_tests/_data`` (put there by ``setup.py`` at build time), so
``pip install doctor-tests`` outside the checkout runs the same playbooks.
"""

from __future__ import annotations

import functools
from importlib import resources
from pathlib import Path

#: the folders and files copied into the wheel (setup.py's ITEMS: a unit test keeps them equal)
DATA_ITEMS = ("ansible.cfg", "playbooks", "roles", "inventory", "plugins", "etc",
              "requirements")

_PACKAGE_DIR = Path(__file__).resolve().parent


class DataNotFound(RuntimeError):
    """Neither the wheel's data nor a source checkout is there."""


def source_root() -> Path | None:
    """The source checkout this package runs from (editable install), else None."""
    root = _PACKAGE_DIR.parent
    return root if (root / "playbooks").is_dir() and (root / "pyproject.toml").is_file() else None


@functools.cache
def data_root() -> Path:
    """The folder holding ``ansible.cfg``, ``playbooks/``, ``roles/``, ``inventory/``..."""
    packaged = Path(str(resources.files("doctor_tests"))) / "_data"
    if (packaged / "playbooks").is_dir():
        return packaged
    root = source_root()
    if root is None:
        raise DataNotFound("Doctor's playbooks are neither in %s (an installed wheel) nor in a "
                           "source checkout beside %s" % (packaged, _PACKAGE_DIR))
    return root
