"""Where a worker may read, and reading one file there without escaping.

Each file is opened once, relative to a descriptor of the data folder, one
path component at a time with ``O_NOFOLLOW``: no symbolic link is followed,
so a link swapped in after listing (or after any check) cannot lead the read
out of the folder. ``O_NONBLOCK`` keeps a FIFO from blocking the open;
``fstat`` on the opened descriptor then accepts regular files only (no
FIFO, socket, device or folder), and the bytes are read from that same
descriptor: what was checked is what is decoded.

Errors are of two kinds. ``ImageRejected``: the file itself is unusable (a
link, not a regular file, too large, a path out of the folder); it is
stored in the shard with its reason. ``FileUnreadable``: the environment
failed (permission denied, missing on this worker's mount, EIO, a stale NFS
handle); the task fails naming the file and the error, and nothing is
cached, so fixing the environment and submitting again decodes the file.

Hard links are accepted. A hard link is the same inode under another name,
and no path leads out of the folder; the worker cannot tell a legitimate one
(``cp -al``, rsync ``--link-dest``, DVC's hardlink cache) from a link to a
file made elsewhere. Making a hard link to a file one does not own needs
read and write access to it where ``fs.protected_hardlinks`` is 1 (the
default on Linux since 3.6), and only works within one filesystem: keep the
data folder on its own filesystem (or a read-only mount) to rule it out.
"""

import errno
import os
import stat

_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY
_FOLDER_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_DIRECTORY | os.O_CLOEXEC
LINK_REASON = "a symbolic link: links are not followed (they could lead outside the data folder)"
FOLDER_LINK_REASON = f"in a folder that is {LINK_REASON}"
OUTSIDE_REASON = "resolves outside the data folder"


class ImageRejected(ValueError):
    """A file that is not a usable image; the message is the reason."""


class FileUnreadable(OSError):
    """The file could not be read for a reason outside it: never cached as a rejection."""


class DataFolderMissing(FileNotFoundError):
    """The worker cannot see the data folder (no shared disk): upload the files."""


class DataRootRefused(PermissionError):
    """A task asked a worker to read outside the folders it may read."""


def require_visible(data_root: str) -> None:
    """Fail fast, and say so, when this worker cannot see the client's files."""
    try:
        with os.scandir(data_root) as entries:
            if next(entries, None) is not None:
                return
    except OSError:
        pass
    raise DataFolderMissing(
        f"this worker cannot see {data_root} (missing or empty here); the client"
        " uploads the files through Redis (--upload)"
    )


def require_allowed_root(data_root: str, allowed_roots: list[str]) -> str:
    """The allowed root (``CATDOG_DATA_ROOT``) holding ``data_root``; DataRootRefused if none.

    Without this, anyone who can send a task could make a worker read any
    file it can open (``/etc/shadow``) into Redis.
    """
    if not allowed_roots:
        raise DataRootRefused(
            "this worker may read no data: start it with CATDOG_DATA_ROOT set to the"
            " folder (or folders, separated by ':') that holds the images"
        )
    real_root = os.path.realpath(data_root)
    for allowed in allowed_roots:
        if os.path.commonpath([allowed, real_root]) == allowed:
            return allowed
    raise DataRootRefused(
        f"{data_root} is outside the folders this worker may read ({', '.join(allowed_roots)});"
        " mount the data under CATDOG_DATA_ROOT, or pass --worker-data-dir"
    )


def file_kind(mode: int) -> str:
    """What a non-regular file is, in words, for reasons."""
    for test, name in (
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISLNK, "a symbolic link"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def too_large_reason(size: int, limit: int) -> str:
    return (
        f"{size} bytes, over the limit of {limit} bytes per file"
        " (CATDOG_MAX_FILE_BYTES; raise it to read larger files)"
    )


class DataFolder:
    """A data folder held open by descriptor; ``read`` returns one file's bytes.

    ``allowed_roots`` (a worker's ``CATDOG_DATA_ROOT``): the folder is then
    reached from the allowed root that holds it without following links, so
    the check and the open cannot disagree. Use as a context manager.
    """

    def __init__(self, root, allowed_roots=None):
        self.root = str(root)
        self._root = _open_root(self.root, allowed_roots)
        # The last subfolder stays open: listings are sorted, so files of a folder
        # come together, and one descriptor per folder could exceed the process's limit.
        self._folder, self._folder_descriptor = (), self._root

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def close(self) -> None:
        if self._folder_descriptor != self._root:
            os.close(self._folder_descriptor)
        if self._root is not None:
            os.close(self._root)
        self._root = self._folder_descriptor = None

    def read(self, relative_path: str, max_bytes: int) -> bytes:
        """The file's bytes: ImageRejected for the file's own faults, FileUnreadable else."""
        if os.sep in relative_path or relative_path in ("", ".", "..", "\x00"):
            parent, name = self._parent_of(relative_path)
        else:  # a file in the folder itself, as in Kaggle's train/: no walk to do
            parent, name = self._root, relative_path
        try:
            descriptor = os.open(name, _OPEN_FLAGS, dir_fd=parent)
        except ValueError:  # a NUL byte in the name
            raise ImageRejected("a NUL byte in the file name") from None
        except OSError as error:
            raise _open_error(error, name, parent, relative_path) from None
        try:
            status = os.fstat(descriptor)
            if not stat.S_ISREG(status.st_mode):
                raise ImageRejected(f"{file_kind(status.st_mode)}, not a regular file")
            if status.st_size > max_bytes:
                raise ImageRejected(too_large_reason(status.st_size, max_bytes))
            return _read_all(descriptor, status.st_size, max_bytes)
        except OSError as error:
            raise _unreadable(relative_path, error) from None
        finally:
            os.close(descriptor)

    def _parent_of(self, relative_path: str) -> tuple[int, str]:
        """(descriptor of the file's folder, its name), or ImageRejected for a path out."""
        parts = _components(relative_path)
        if not parts or os.path.isabs(relative_path) or ".." in parts:
            raise ImageRejected(OUTSIDE_REASON)
        if "\x00" in relative_path:
            raise ImageRejected("a NUL byte in the file name")
        return self._descriptor_of(tuple(parts[:-1]), relative_path), parts[-1]

    def _descriptor_of(self, folder: tuple, relative_path: str) -> int:
        """A descriptor of ``folder`` below the root, reached without following links."""
        if folder == self._folder:
            return self._folder_descriptor
        descriptor = self._root
        for depth, name in enumerate(folder):
            try:
                child = os.open(name, _FOLDER_FLAGS, dir_fd=descriptor)
            except OSError as error:
                raise _open_error(error, name, descriptor, relative_path, folder=True) from None
            finally:
                if depth:
                    os.close(descriptor)
            descriptor = child
        if self._folder_descriptor != self._root:
            os.close(self._folder_descriptor)
        self._folder, self._folder_descriptor = folder, descriptor
        return descriptor


def _open_root(root: str, allowed_roots) -> int:
    """A descriptor of ``root``; with ``allowed_roots``, reached from the one that holds it."""
    real_root = os.path.realpath(root)
    start, below = real_root, []
    if allowed_roots is not None:
        start = require_allowed_root(real_root, allowed_roots)
        below = _components(os.path.relpath(real_root, start))
    try:
        descriptor = os.open(start, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as error:
        raise _unreadable(root, error) from None
    for name in below:
        try:
            child = os.open(name, _FOLDER_FLAGS, dir_fd=descriptor)
        except OSError as error:
            # realpath resolved every link: one here was swapped in since.
            raise DataRootRefused(f"{root} changed while being opened ({error.strerror})") from None
        finally:
            os.close(descriptor)
        descriptor = child
    return descriptor


def _components(relative_path: str) -> list[str]:
    return [part for part in relative_path.split(os.sep) if part not in ("", ".")]


def _read_all(descriptor: int, size: int, max_bytes: int) -> bytes:
    # One read for a regular file of the size fstat gave; more only if it changed.
    data = os.read(descriptor, size + 1)
    if len(data) == size:
        return data
    chunks, total = [data], len(data)
    while data and total <= max_bytes:
        data = os.read(descriptor, 1 << 20)
        chunks.append(data)
        total += len(data)
    if total > max_bytes:
        raise ImageRejected(too_large_reason(total, max_bytes))
    return b"".join(chunks)


def _open_error(error, name, parent, relative_path, folder=False):
    """The file's fault (a link, a socket...) as ImageRejected; the rest as FileUnreadable."""
    try:
        mode = os.stat(name, dir_fd=parent, follow_symlinks=False).st_mode
    except OSError:
        return _unreadable(relative_path, error)
    if stat.S_ISLNK(mode):
        return ImageRejected(FOLDER_LINK_REASON if folder else LINK_REASON)
    if folder and not stat.S_ISDIR(mode):
        return _unreadable(relative_path, error)  # the tree changed since listing
    if not folder and not stat.S_ISREG(mode):
        return ImageRejected(f"{file_kind(mode)}, not a regular file")
    return _unreadable(relative_path, error)


def _unreadable(relative_path: str, error: OSError) -> FileUnreadable:
    code = errno.errorcode.get(error.errno, str(error.errno))
    return FileUnreadable(
        f"cannot read {relative_path}: {error.strerror or error} ({code}); a problem of this"
        " machine (permissions, a missing mount, a disk error), not of the file's content:"
        " fix it and submit again (nothing was cached for this shard)"
    )
