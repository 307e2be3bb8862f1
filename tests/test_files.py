"""core/files.py: atomic writes that refuse to clobber, hang or leave half a file."""
import errno
import os
import stat
import threading

import pytest

from pathlib import Path

from agrad.errors import AgradError
from agrad.cli.files import write_atomic


def _leftovers(d):
    return sorted(p.name for p in d.iterdir() if p.name.endswith(".tmp"))


@pytest.fixture(autouse=True)
def _short_paths(tmp_path, monkeypatch):
    """Messages shorten paths past 80 characters: work where the names are short."""
    monkeypatch.chdir(tmp_path)


def _refused(path, data=b"x", **kw):
    with pytest.raises(AgradError) as info:
        write_atomic(path, data, **kw)
    assert info.value.kind == "file"
    assert "\n" not in info.value.message
    return info.value.message


def test_new_file_bytes_text_and_callable(tmp_path):
    write_atomic(tmp_path / "a.bin", b"\x00\x01")
    write_atomic(tmp_path / "b.txt", "é\n")
    write_atomic(tmp_path / "c.bin", lambda fh: fh.write(b"abc"))
    assert (tmp_path / "a.bin").read_bytes() == b"\x00\x01"
    assert (tmp_path / "b.txt").read_bytes() == "é\n".encode()
    assert (tmp_path / "c.bin").read_bytes() == b"abc"
    assert _leftovers(tmp_path) == []


def test_mode_follows_umask_not_mkstemp(tmp_path):
    old = os.umask(0o022)
    try:
        write_atomic(tmp_path / "a", b"1")
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "a").st_mode) == 0o644


def test_existing_file_needs_force(tmp_path):
    p = Path("out.dot")
    p.write_bytes(b"old")
    assert _refused(p) == f"cannot write {str(p)!r}: the file exists; pass --force to replace it"
    assert p.read_bytes() == b"old"
    os.chmod(p, 0o640)
    write_atomic(p, b"new", force=True)
    assert p.read_bytes() == b"new"
    assert stat.S_IMODE(os.stat(p).st_mode) == 0o640  # the replaced file's mode is kept
    assert _leftovers(tmp_path) == []


def test_directory_fifo_and_device_refused_without_hanging(tmp_path):
    fifo = Path("pipe")
    os.mkfifo(fifo)
    assert _refused(".", force=True) == "cannot write '.': it is a directory, not a regular file"
    assert _refused(fifo, force=True) == f"cannot write {str(fifo)!r}: it is a named pipe (FIFO), not a regular file"
    assert _refused("/dev/full", force=True) == "cannot write '/dev/full': it is a device, not a regular file"
    assert _refused("/dev/null", force=True) == "cannot write '/dev/null': it is a device, not a regular file"
    assert _refused("new/") == "cannot write 'new/': it names a directory"


def test_symlink_is_not_followed_silently(tmp_path):
    target = Path("precious.txt")
    target.write_bytes(b"keep")
    link = Path("link.txt")
    link.symlink_to(target)
    message = _refused(link)
    assert message.startswith("cannot write 'link.txt': it is a symbolic link to '/")
    assert message.endswith("precious.txt'; pass --force to replace that file")
    assert target.read_bytes() == b"keep"
    write_atomic(link, b"new", force=True)
    assert link.is_symlink() and target.read_bytes() == b"new"
    dangling = tmp_path / "dangling"
    dangling.symlink_to(tmp_path / "nowhere")
    _refused(dangling)
    assert not (tmp_path / "nowhere").exists()


def test_os_errors_become_one_line(tmp_path):
    missing = Path("no") / "such" / "f.npz"
    assert _refused(missing) == f"cannot write {str(missing)!r}: its directory does not exist"
    long = tmp_path / ("a" * 300)
    message = _refused(long)
    assert message.startswith("cannot write '/") and "…" in message  # the path shortened to one line
    assert message.endswith(": the file name is longer than the system allows")
    assert _refused("") == "cannot write a file with an empty name"
    assert _refused("a\0b") == "cannot write 'a\\x00b': the path holds a NUL character"


def test_permission_denied(tmp_path, monkeypatch):
    # root writes into read-only directories, so the refusal is made where the OS would make it
    import errno
    import tempfile

    def denied(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", denied)
    assert _refused(tmp_path / "f") == f"cannot write {str(tmp_path / 'f')!r}: permission denied"


def test_failed_write_keeps_the_old_file_and_leaves_nothing(tmp_path):
    p = Path("report.xml")
    p.write_bytes(b"old report")

    def full_disk(fh):
        fh.write(b"half a rep")
        raise OSError(errno.ENOSPC, "No space left on device")

    assert _refused(p, full_disk, force=True) == f"cannot write {str(p)!r}: no space left on the device"
    assert p.read_bytes() == b"old report"
    assert _leftovers(tmp_path) == []


def test_ctrl_c_leaves_no_partial_file(tmp_path):
    p = Path("a.npz")

    def interrupted(fh):
        fh.write(b"partial")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_atomic(p, interrupted)
    assert not p.exists() and _leftovers(tmp_path) == []


def test_concurrent_writers_leave_one_valid_file(tmp_path):
    p = Path("out.txt")
    payloads = [bytes([65 + i]) * 200_000 for i in range(8)]
    errors = []

    def writer(data):
        try:
            write_atomic(p, lambda fh: [fh.write(data[k:k + 1000]) for k in range(0, len(data), 1000)], force=True)
        except AgradError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(d,)) for d in payloads]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert p.read_bytes() in payloads
    assert _leftovers(tmp_path) == []


def test_concurrent_writers_without_force_one_wins(tmp_path):
    p = Path("out.txt")
    barrier = threading.Barrier(4)
    outcomes = []

    def writer(i):
        def slow(fh):
            fh.write(b"%d" % i)
            barrier.wait()  # every writer has passed the existence check before any places its file

        try:
            write_atomic(p, slow)
            outcomes.append(("ok", i))
        except AgradError as exc:
            outcomes.append(("refused", exc.message))

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wins = [i for k, i in outcomes if k == "ok"]
    assert len(wins) == 1 and p.read_bytes() == b"%d" % wins[0]
    assert sorted(m for k, m in outcomes if k == "refused") == [
        f"cannot write {str(p)!r}: the file exists; pass --force to replace it"] * 3
    assert _leftovers(tmp_path) == []
