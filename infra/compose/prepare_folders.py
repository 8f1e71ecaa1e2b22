"""Hand the bind-mounted folders to the containers' user before any service starts.

Compose service ``prepare-folders`` runs this once per ``up``, as root with only CAP_CHOWN. When a
host folder is missing, Docker creates it, owned by root, and uid 1000 (every other service) could
not write it: a plain ``docker compose up`` from a fresh clone would fail. A folder tree that
Docker created (owned by root, holding only such empty folders) is given to uid 1000 here. Any
other folder is left as it is; when uid 1000 cannot write it, this says so in one line and exits 1,
so no service starts against it.

It also makes the stack's secrets when they are missing (random, 0600, owned by uid 1000), each in
its own folder (0700) that compose bind-mounts read-only at /run/secrets/<folder> in the services
that use it: a folder mount, unlike a file mount, never fails when the source is missing (Docker
creates it empty, and this fills it before any service starts). ``stack.py`` imports the layout and
``prepare_secrets`` from here, so ``just up-docker`` and a plain ``docker compose up`` make the same
files. An existing file is never rewritten.
"""

from __future__ import annotations

import os
import secrets
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
# infra/compose/secrets/ (never in git, never in an image), mounted here.
SECRETS_MOUNT = Path("/mnt/secrets")
# Variable -> its file under secrets/. Compose mounts the folder at /run/secrets/<folder> and sets
# <VARIABLE>_FILE=/run/secrets/<folder>/<file> only in the services that need it.
SECRET_FILES = {
    "ADMIN_TOKEN": Path("admin/token"),
    "MODEL_SIGNING_KEY": Path("signing/key"),
}
# Permission bits for access by uid/gid 1000 (shifted to the owner, group or other position).
READ, WRITE, SEARCH = 0o4, 0o2, 0o1


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


def container_may(path: Path, access: int) -> bool:
    """Whether uid/gid 1000 has ``access`` (READ|WRITE|SEARCH) on ``path`` by its mode bits, not
    by root's view."""
    info = path.stat()
    need = access
    if info.st_uid == CONTAINER_UID:
        need = access << 6
    elif info.st_gid == CONTAINER_GID:
        need = access << 3
    return info.st_mode & need == need


def writable_by_container(folder: Path) -> bool:
    """Whether uid/gid 1000 may create files in ``folder``."""
    return container_may(folder, WRITE | SEARCH)


def _new_secret(path: Path) -> bool:
    """Write a random value to ``path`` unless it exists (O_EXCL: never rewritten); True if made."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(secrets.token_urlsafe(32) + "\n")
    return True


def _prepare_secret(root: Path, relative: Path) -> str | None:
    folder, path = root / relative.parent, root / relative
    fresh = not folder.exists() or created_by_docker(folder)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        made = _new_secret(path)
        readable = container_may(path, READ)
    except PermissionError:
        # A folder already private to uid 1000 (0700): root here holds no CAP_DAC_READ_SEARCH,
        # so it cannot look in, and uid 1000 can.
        if folder.stat().st_uid == CONTAINER_UID and container_may(folder, READ | SEARCH):
            return None
        return _unreadable(root, folder)
    if os.geteuid() == 0:
        # chmod while root still owns them: without CAP_FOWNER it could not afterwards.
        if fresh:
            folder.chmod(0o700)
        if made:
            os.chown(path, CONTAINER_UID, CONTAINER_GID)
        if fresh:
            os.chown(folder, CONTAINER_UID, CONTAINER_GID)
    readable = readable or (made and os.geteuid() == 0)  # chowned to uid 1000 just now
    unreadable = path if not readable else None if container_may(folder, READ | SEARCH) else folder
    return None if unreadable is None else _unreadable(root, unreadable)


def _unreadable(root: Path, path: Path) -> str:
    return (
        f"the secret {root.name}/{path.relative_to(root)} is owned by uid {path.stat().st_uid} "
        f"and uid {CONTAINER_UID}, which every MindPulse container runs as, cannot read it; fix "
        f"it once from infra/compose with: sudo chown -R {CONTAINER_UID}:{CONTAINER_GID} {root.name}"
    )


def prepare_secrets(root: Path) -> str | None:
    """Make each missing secret under ``root``; a one-line reason when uid 1000 cannot read one."""
    fresh = not root.exists() or created_by_docker(root)
    root.mkdir(mode=0o755, parents=True, exist_ok=True)
    for relative in SECRET_FILES.values():
        problem = _prepare_secret(root, relative)
        if problem is not None:
            return problem
    if fresh and os.geteuid() == 0:
        os.chown(root, CONTAINER_UID, CONTAINER_GID)
    return None


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
    problem = prepare_secrets(SECRETS_MOUNT)
    if problem is not None:
        print(f"mindpulse: {problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
