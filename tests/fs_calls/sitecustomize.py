"""Records a process's fsync, mkdir and rename calls, with the paths they concern, when
HCSERVER_TEST_FS_CALLS names a file (tests/test_durability.py puts this directory on the
daemon's PYTHONPATH): one tab-separated line per call, after the call succeeded."""
import os

_log = os.environ.get("HCSERVER_TEST_FS_CALLS")

if _log:
    _fd = os.open(_log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    _fsync, _fdatasync, _mkdir, _replace, _rename = os.fsync, os.fdatasync, os.mkdir, os.replace, os.rename

    def _record(*fields) -> None:
        os.write(_fd, ("\t".join(str(field) for field in fields) + "\n").encode())

    def _fd_path(fd) -> str:
        number = fd if isinstance(fd, int) else fd.fileno()
        return os.readlink(f"/proc/self/fd/{number}")

    def fsync(fd):
        _fsync(fd)
        _record("fsync", _fd_path(fd))

    def fdatasync(fd):
        _fdatasync(fd)
        _record("fsync", _fd_path(fd))

    def mkdir(path, mode=0o777, *, dir_fd=None):
        _mkdir(path, mode, dir_fd=dir_fd)
        _record("mkdir", os.path.abspath(path))

    def replace(src, dst, *, src_dir_fd=None, dst_dir_fd=None):
        _replace(src, dst, src_dir_fd=src_dir_fd, dst_dir_fd=dst_dir_fd)
        _record("rename", os.path.abspath(src), os.path.abspath(dst))

    def rename(src, dst, *, src_dir_fd=None, dst_dir_fd=None):
        _rename(src, dst, src_dir_fd=src_dir_fd, dst_dir_fd=dst_dir_fd)
        _record("rename", os.path.abspath(src), os.path.abspath(dst))

    os.fsync, os.fdatasync, os.mkdir, os.replace, os.rename = fsync, fdatasync, mkdir, replace, rename
