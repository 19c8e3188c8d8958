"""Opening files for reading and replacing them, refusing what is not a regular file.

``open_regular`` opens without blocking (a FIFO would wait forever for a writer) and
checks the opened file with ``fstat``, so that the check and the read concern the same
file; FIFOs, devices, sockets and folders are refused before a byte is read.
``check_replaceable`` is what writers call before replacing a path: an existing FIFO,
device or folder is never replaced by a regular file.
"""
import errno
import io
import os
import stat

__all__ = ["NotARegularFileError", "FolderError", "open_regular", "open_append",
           "check_replaceable", "file_kind"]


class NotARegularFileError(OSError):
    """A path that names a FIFO, a device, a socket or a folder where a file is needed."""


class FolderError(NotARegularFileError, IsADirectoryError):
    """A folder where a file is needed (also an IsADirectoryError)."""


def file_kind(mode):
    """'a folder', 'a FIFO', ... for an ``st_mode`` that is not a regular file's."""
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _refuse(path, mode, doing):
    if stat.S_ISDIR(mode):
        return FolderError(errno.EISDIR, f"Is a directory: cannot {doing} it as a file",
                           os.fspath(path))
    return NotARegularFileError(errno.EINVAL, f"cannot {doing} it: it is {file_kind(mode)}, "
                                f"not a regular file", os.fspath(path))


_NONBLOCK = getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)


def _open_checked(path, flags, mode, encoding, doing):
    """``os.open`` without blocking, ``fstat`` the descriptor, refuse what is not a
    regular file, then a blocking file object on it."""
    try:
        fd = os.open(path, flags | _NONBLOCK, 0o666)
    except IsADirectoryError:   # (Windows) folders cannot be opened at all
        raise _refuse(path, stat.S_IFDIR, doing) from None
    except OSError as exc:
        if exc.errno == errno.ENXIO:   # opened for writing: a FIFO with no reader
            raise _refuse(path, stat.S_IFIFO, doing) from None
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise _refuse(path, st.st_mode, doing)
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return _file_object(fd, mode, encoding)


def _file_object(fd, mode, encoding):
    """The file object owning ``fd``. Nothing closes fd after this is called: when
    ``io.open`` fails part-way (a Ctrl-C while it sets up the text layer, say) it has
    closed fd itself, and closing it again would turn that KeyboardInterrupt into "Bad
    file descriptor" (or close a number reused meanwhile)."""
    return io.open(fd, mode, encoding=encoding if "b" not in mode else None)


def open_regular(path, mode="rb", encoding=None):
    """Open ``path`` for reading (``'rb'`` or ``'r'``), refusing anything but a regular file.

    Raises
    ------
    FileNotFoundError, PermissionError
        As ``open`` would.
    NotARegularFileError
        (an OSError) for a FIFO, a device, a socket or a folder.
    """
    if mode not in ("rb", "r"):
        raise ValueError(f"open_regular reads: mode must be 'rb' or 'r', not {mode!r}")
    return _open_checked(path, os.O_RDONLY | getattr(os, "O_BINARY", 0), mode, encoding,
                         "read")


def open_append(path, encoding="utf-8"):
    """Open ``path`` to append text (creating it), refusing anything but a regular file.

    The open never blocks (a FIFO without a reader is refused, not waited on) and the
    opened file is checked with ``fstat``, like :func:`open_regular`.
    """
    return _open_checked(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, "a", encoding,
                         "append to")


def check_replaceable(path):
    """Refuse (NotARegularFileError) to replace ``path`` if it exists and is not a
    regular file (or a symlink to one): a FIFO, a device or a folder stays what it is."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return
    except OSError:
        return   # the write itself reports what is wrong
    if not stat.S_ISREG(st.st_mode):
        raise _refuse(path, st.st_mode, "write")
