"""Hand the bind-mounted folders to the containers' user before any service starts.

Compose service ``prepare-folders`` runs this once per ``up``, as root with only CAP_CHOWN. When a
host folder is missing, Docker creates it, owned by root, and uid 1000 (every other service) could
not write it: a plain ``docker compose up`` from a fresh clone would fail. A folder tree that
Docker created (owned by root, holding only such empty folders) is given to uid 1000 here. Any
other folder is left as it is; when uid 1000 cannot write it, this says so in one line and exits 1,
so no service starts against it.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

CONTAINER_UID = 1000
CONTAINER_GID = 1000
# Where compose mounts each host folder (relative to the repo root) in this container.
MOUNTS = {
    "data": Path("/mnt/data"),
    "artifacts": Path("/mnt/artifacts"),
    "reports": Path("/mnt/reports"),
    "data/mlflow": Path("/mnt/mlflow"),
}
FIX = "sudo chown -R 1000:1000 data artifacts reports"


def created_by_docker(folder: Path) -> bool:
    """True when ``folder`` and everything under it are root-owned folders with no files."""
    info = folder.lstat()
    if info.st_uid != 0 or not stat.S_ISDIR(info.st_mode):
        return False
    return all(created_by_docker(entry) for entry in folder.iterdir())


def hand_over(folder: Path) -> None:
    """Give a tree Docker created to the containers' user."""
    for entry in (folder, *folder.rglob("*")):
        os.chown(entry, CONTAINER_UID, CONTAINER_GID)


def writable_by_container(folder: Path) -> bool:
    """Whether uid/gid 1000 may create files in ``folder`` (by its mode bits, not root's view)."""
    info = folder.stat()
    need = stat.S_IWOTH | stat.S_IXOTH
    if info.st_uid == CONTAINER_UID:
        need = stat.S_IWUSR | stat.S_IXUSR
    elif info.st_gid == CONTAINER_GID:
        need = stat.S_IWGRP | stat.S_IXGRP
    return info.st_mode & need == need


def main() -> int:
    """Prepare every mounted folder; return 1 with a one-line reason for the first unusable one."""
    for name, folder in MOUNTS.items():
        if created_by_docker(folder):
            hand_over(folder)
        if not writable_by_container(folder):
            owner = folder.stat().st_uid
            print(
                f"mindpulse: the host folder {name}/ is owned by uid {owner} and uid "
                f"{CONTAINER_UID}, which every MindPulse container runs as, cannot write it; "
                f"fix it once from the repo root with: {FIX}",
                file=sys.stderr,
            )
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
