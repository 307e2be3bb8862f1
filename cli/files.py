"""Writing a result file without losing anything: --save, --dot, --junit, plots.

The data goes to a temporary file in the target's directory, is flushed to disk and then renamed
into place, so a reader sees the old file or the new one, never half of one: two concurrent
runs leave one valid file, Ctrl-C (or a full disk) leaves no partial file, and a failed write
never destroys the file that was there. Nothing here prints; every failure is an AgradError of
kind "file" with a one-line message.
"""
from __future__ import annotations

import errno
import os
import stat
from typing import Callable

import click

from agrad import AgradError

_REASONS = {
    errno.ENOENT: "its directory does not exist",
    errno.ENOTDIR: "a part of the path is not a directory",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.EROFS: "the file system is read-only",
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "the disk quota is exceeded",
    errno.ENAMETOOLONG: "the file name is longer than the system allows",
    errno.EISDIR: "it is a directory",
    errno.EFBIG: "the file is too large for the file system",
    errno.EIO: "an input/output error",
}


class OutputPath(click.Path):
    """click.Path for a file agrad writes, refusing an empty name: the CLI skips an output option
    whose value is falsy, so `--save ""` wrote nothing and exited 0."""

    def convert(self, value, param, ctx):
        if not os.fspath(value):
            self.fail("the file name is empty; give a file to write", param, ctx)
        value = super().convert(value, param, ctx)
        _refuse_same_output(value, param, ctx)
        return value


def _refuse_same_output(value, param, ctx) -> None:
    """Two output options naming one file (--plot-file a.png --save a.png) are refused while the
    options are read: otherwise the run wrote one, then failed on the other ("the file exists"),
    or with --force silently replaced the first by the second."""
    if ctx is None or param is None:
        return
    seen = ctx.meta.setdefault("agrad.output_paths", {})
    key = os.path.realpath(os.fspath(value))
    flag = param.opts[0] if param.opts else param.name
    other = seen.setdefault(key, flag)
    if other != flag:
        raise click.UsageError(f"{other} and {flag} name the same file {_shown(value)}; "
                               f"give each output its own file", ctx)


def _shown(path) -> str:
    text = repr(os.fspath(path))
    return text if len(text) <= 80 else text[:39] + "…" + text[-39:]


def _error(path, message: str) -> AgradError:
    return AgradError(f"cannot write {_shown(path)}: {message}", kind="file")


def _reason(exc: OSError) -> str:
    return _REASONS.get(exc.errno) or (exc.strerror or str(exc)).rstrip(".").lower()


def _kind(mode: int) -> str | None:
    """What a non-regular file is, for the message; None for a regular file."""
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a named pipe (FIFO)"),
                       (stat.S_ISCHR, "a device"), (stat.S_ISBLK, "a device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return None if stat.S_ISREG(mode) else "not a regular file"


def target_of(path, *, force: bool) -> str:
    """The file a write to `path` would replace, after the refusals: a directory, FIFO, device or
    socket always; an existing file or a symbolic link unless force. With force, a symbolic link
    is followed, so the file it points to is replaced and the link is kept."""
    path = os.fspath(path)
    if not path:
        raise AgradError("cannot write a file with an empty name", kind="file")
    if path.endswith(os.sep):
        raise _error(path, "it names a directory")
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return path  # a new file (a missing directory is reported when the write starts)
    except (OSError, ValueError) as exc:
        raise _error(path, _reason(exc) if isinstance(exc, OSError) else "the path holds a NUL character") from None
    if stat.S_ISLNK(st.st_mode):
        dest = os.path.realpath(path)
        if not force:
            raise _error(path, f"it is a symbolic link to {_shown(dest)}; pass --force to replace that file")
        try:
            st = os.stat(dest)
        except FileNotFoundError:
            return dest  # a dangling link: the file it names is created
        except OSError as exc:
            raise _error(path, _reason(exc)) from None
        path = dest
    kind = _kind(st.st_mode)
    if kind is not None:
        raise _error(path, f"it is {kind}, not a regular file")
    if not force:
        raise _error(path, "the file exists; pass --force to replace it")
    return path


def write_atomic(path, data: bytes | str | Callable, *, force: bool = False) -> str:
    """Write `data` (bytes, text as UTF-8, or a function writing to a binary file object) to
    `path` atomically. Returns the path of the file written (a link's target under force)."""
    import tempfile  # here, not at the top: 3 ms of every run's start-up, and most runs write no file

    target = target_of(path, force=force)
    directory, name = os.path.split(os.path.abspath(target))
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{name[:32]}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        if exc.errno == errno.ENOENT and os.path.isdir(directory):  # /proc: it exists but takes no new file
            raise _error(path, f"no file can be created in {_shown(directory)} "
                               f"({(exc.strerror or str(exc)).lower()})") from None
        raise _error(path, _reason(exc)) from None
    except ValueError:
        raise _error(path, "the path holds a NUL character") from None
    placed = False
    try:
        with os.fdopen(fd, "wb") as fh:
            if callable(data):
                data(fh)
            else:
                fh.write(data.encode("utf-8") if isinstance(data, str) else data)
            fh.flush()
            os.fsync(fh.fileno())
        _set_mode(tmp, target)
        placed = _place(tmp, target, force=force)
    except OSError as exc:
        raise _error(path, _reason(exc)) from None
    finally:  # also on KeyboardInterrupt: no partial file is left behind
        if not placed:
            try:
                os.unlink(tmp)
            except OSError:
                pass
    return target


def _set_mode(tmp: str, target: str) -> None:
    """mkstemp makes the file private (0600): give it the mode the replaced file had, or the one a
    plain open() would have given (0666 less the umask)."""
    try:
        mode = stat.S_IMODE(os.stat(target).st_mode)
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    os.chmod(tmp, mode)


def _place(tmp: str, target: str, *, force: bool) -> bool:
    """Move the finished temporary file into place. Without force, a hard link refuses to replace
    a file another run created meanwhile (rename would silently overwrite it)."""
    if force:
        os.replace(tmp, target)
        return True
    try:
        os.link(tmp, target)
    except FileExistsError:
        raise _error(target, "the file exists; pass --force to replace it") from None
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
            raise
        if os.path.lexists(target):  # a file system without hard links: check, then rename
            raise _error(target, "the file exists; pass --force to replace it") from None
        os.replace(tmp, target)
        return True
    os.unlink(tmp)
    return True
