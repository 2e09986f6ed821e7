"""Files mosaic itself writes in a run dir, besides the sidecar's beats (and,
with the same writer, the user's CLI config files that `mosaic hooks` edits).

The run dir was checked when the settings were resolved (0700, owned by
this user, not a symlink). Here every write goes through a descriptor of
that directory, so a path component swapped for a symlink afterwards is not
followed; the file is written under a unique temporary name with O_EXCL and
O_NOFOLLOW and renamed over the target, so a reader sees the old file or
the new one, never a mix, and a planted symlink at the target is replaced,
not followed. Names are agent names (checked by the caller), so they cannot
escape the directory.
"""

from __future__ import annotations

import os
from pathlib import Path

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def replace(run_dir: Path, filename: str, data: bytes, *, mode: int = 0o600, fsync: bool = False) -> None:
    """Write DATA to RUN_DIR/FILENAME atomically, with MODE (and, with
    FSYNC, on disk before the rename). Raises OSError."""
    if "/" in filename or filename in ("", ".", ".."):
        raise ValueError(f"not a file name: {filename!r}")
    dirfd = os.open(run_dir, _DIR_FLAGS)
    try:
        temp = f".{filename}.{os.urandom(6).hex()}.tmp"  # not secrets: it costs a launch 3 ms of imports
        fd = os.open(temp, _FILE_FLAGS, 0o600, dir_fd=dirfd)
        try:
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
                os.fchmod(fd, mode)  # whatever the umask
                if fsync:
                    os.fsync(fd)
            finally:
                os.close(fd)
            os.rename(temp, filename, src_dir_fd=dirfd, dst_dir_fd=dirfd)
        except BaseException:
            try:
                os.unlink(temp, dir_fd=dirfd)
            except OSError:
                pass
            raise
    finally:
        os.close(dirfd)


def remove(run_dir: Path, filename: str) -> bool:
    """Remove RUN_DIR/FILENAME (a symlink there is removed, not followed);
    False if it was not there. Raises OSError otherwise."""
    if "/" in filename or filename in ("", ".", ".."):
        raise ValueError(f"not a file name: {filename!r}")
    dirfd = os.open(run_dir, _DIR_FLAGS)
    try:
        os.unlink(filename, dir_fd=dirfd)
        return True
    except FileNotFoundError:
        return False
    finally:
        os.close(dirfd)
