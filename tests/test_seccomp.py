"""The seccomp filter of the sandbox, tried for real under bubblewrap.

Each blocked call is made from a small Python program under ``bwrap --seccomp FD``, running as
root inside bwrap (so without the filter most of these calls would succeed), once with the
filter and once without: the filter must be what refuses it. The arguments are harmless even
if a call goes through. Then the programs a function runs must still work under the filter,
including after ``setpriv`` drops to an unprivileged uid as the real sandbox does.
"""

from __future__ import annotations

import errno
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pyseccomp
import pytest

from functions_app.runtime import seccomp
from functions_app.runtime.seccomp import (
    BLOCKED,
    CLONE_NAMESPACE_FLAGS,
    SeccompUnavailable,
    seccomp_fd,
    seccomp_program,
)

BWRAP = shutil.which("bwrap")
pytestmark = pytest.mark.skipif(BWRAP is None, reason="bubblewrap (bwrap) is not installed")

SETPRIV = [
    "setpriv",
    "--reuid=30000",
    "--regid=30000",
    "--clear-groups",
    "--inh-caps=-all",
    "--bounding-set=-all",
    "--no-new-privs",
    "--",
]

CLONE_NEWUSER = CLONE_NAMESPACE_FLAGS["CLONE_NEWUSER"]
SIGCHLD = int(signal.SIGCHLD)
NO_SUCH_PID = 999_999
AT_FDCWD = -100
MISSING = b"/nonexistent-stratus"

# The arguments each blocked call is tried with: harmless ones, that change nothing even where
# the call would succeed, or that the kernel rejects after it has passed the filter.
ATTEMPTS: dict[str, tuple] = {
    "unshare": (CLONE_NEWUSER,),
    "setns": (-1, 0),
    "mount": (b"none", MISSING, b"tmpfs", 0, None),
    "umount": (0,),
    "umount2": (MISSING, 0),
    "pivot_root": (MISSING, MISSING),
    "open_tree": (-1, b"", 0),
    "move_mount": (-1, b"", -1, b"", 0),
    "fsopen": (b"nonexistent-stratus", 0),
    "fsconfig": (-1, 0, None, None, 0),
    "fsmount": (-1, 0, 0),
    "fspick": (-1, b"", 0),
    "mount_setattr": (-1, b"", 0, None, 0),
    "keyctl": (0, -3, 0),  # KEYCTL_GET_KEYRING_ID of the session keyring, not creating it
    "add_key": (None, None, None, 0, 0),
    "request_key": (None, None, None, 0),
    "bpf": (0, None, 0),
    "perf_event_open": (None, 0, -1, -1, 0),
    "userfaultfd": (os.O_CLOEXEC,),
    "io_uring_setup": (0, None),
    "io_uring_enter": (-1, 0, 0, 0, None, 0),
    "io_uring_register": (-1, 0, None, 0),
    "ptrace": (16, NO_SUCH_PID, 0, 0),  # PTRACE_ATTACH
    "process_vm_readv": (NO_SUCH_PID, None, 0, None, 0, 0),
    "process_vm_writev": (NO_SUCH_PID, None, 0, None, 0, 0),
    "process_madvise": (-1, None, 0, 0, 0),
    "pidfd_getfd": (-1, 0, 0),
    "kcmp": (NO_SUCH_PID, NO_SUCH_PID, 0, 0, 0),
    "open_by_handle_at": (-1, None, 0),
    "name_to_handle_at": (AT_FDCWD, b"/", None, None, 0),
    "init_module": (None, 0, b""),
    "finit_module": (-1, b"", 0),
    "delete_module": (b"stratus_no_such_module", os.O_NONBLOCK),
    "create_module": (None, 0),
    "get_kernel_syms": (None,),
    "query_module": (None, 0, None, 0, None),
    "kexec_load": (0, 17, None, 0),  # more segments than the kernel takes
    "kexec_file_load": (-1, -1, 0, None, 0),
    "reboot": (0, 0, 0, None),  # without the magic numbers
    "swapon": (MISSING, 0),
    "swapoff": (MISSING,),
    "acct": (MISSING,),
    "quotactl": (0, None, 0, None),
    "quotactl_fd": (-1, 0, 0, None),
    "syslog": (10, None, 0),  # SYSLOG_ACTION_SIZE_BUFFER only reads a size
    "vhangup": (),  # bwrap --new-session: there is no terminal to hang up
    "iopl": (0,),
    "ioperm": (0, 0, 0),
    "vm86": (0, 0),
    "vm86old": (0,),
    "settimeofday": (None, None),  # sets nothing
    "clock_settime": (1, None),  # CLOCK_MONOTONIC cannot be set
    "clock_adjtime": (0, None),
    "adjtimex": (None,),
    "stime": (0,),
    "lookup_dcookie": (0, None, 0),
    "nfsservctl": (0, None, None),
    "uselib": (None,),
    "ustat": (0, None),
    "sysfs": (3,),  # the number of filesystem types
    "_sysctl": (None,),
}

# Makes one system call and prints its errno (0 on success). "i386" makes it through int 0x80,
# the 32-bit entry a 64-bit process can still use; "x32" through the x32 ABI's numbers.
SYSCALL_PROGRAM = textwrap.dedent(
    """
    import ast, ctypes, mmap, os, sys

    abi, number, args = ast.literal_eval(sys.argv[1])
    parent = os.getpid()
    if abi == "i386":
        # push rbx; eax, ebx, ecx, edx = rdi, rsi, rdx, rcx; int 0x80; movsxd rax, eax; pop rbx; ret
        stub = "53 89f8 89f3 4189c8 89d1 4489c2 cd80 4863c0 5b c3"
        code = mmap.mmap(-1, mmap.PAGESIZE, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
        code.write(bytes.fromhex(stub))
        call = ctypes.CFUNCTYPE(*[ctypes.c_long] * 5)(ctypes.addressof(ctypes.c_char.from_buffer(code)))
        result = call(number, *[arg or 0 for arg in args], *[0] * (3 - len(args)))
        error = -result if -4096 < result < 0 else 0
    else:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.syscall.restype = ctypes.c_long
        number |= 0x40000000 if abi == "x32" else 0
        result = libc.syscall(*[ctypes.c_long(arg) if isinstance(arg, int) else arg for arg in (number, *args)])
        error = ctypes.get_errno() if result == -1 else 0
    if os.getpid() != parent:
        os._exit(0)  # the child of a clone that went through
    print(error)
    """
)

ORDINARY_PROGRAM = textwrap.dedent(
    """
    import mmap, os, socket, subprocess, sys, threading

    results = []
    worker = threading.Thread(target=lambda: results.append("thread"))
    worker.start()
    worker.join()
    pid = os.fork()
    if pid == 0:
        os._exit(7)
    assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 7
    results.append("fork")
    child = subprocess.run([sys.executable, "-c", "print('exec')"], capture_output=True, text=True)
    results.append(child.stdout.strip())
    with socket.create_server(("127.0.0.1", 0)) as server:
        with socket.create_connection(server.getsockname()) as client:
            connection, _ = server.accept()
            client.sendall(b"socket")
            results.append(connection.recv(6).decode())
            connection.close()
    with mmap.mmap(-1, 4096) as memory:
        memory.write(b"mmap")
        results.append(memory[:4].decode())
    print(" ".join(results))
    """
)


def _interpreter_binds() -> list[str]:
    """A pyenv interpreter lives under root's 0700 home: show the unprivileged uid just that."""
    if not sys.base_prefix.startswith("/root/"):
        return []
    binds = ["--tmpfs", "/root"]
    parts = Path(sys.base_prefix).parts
    for depth in range(3, len(parts)):
        binds += ["--perms", "0755", "--dir", str(Path(*parts[:depth]))]
    return binds + ["--ro-bind", sys.base_prefix, sys.base_prefix]


def _sandboxed(command: list[str], *, filtered: bool = True, unprivileged: bool = False):
    """Run ``command`` under bwrap (with the filter unless told otherwise), as the sandbox does."""
    fd = seccomp_fd() if filtered else None
    argv = [BWRAP, "--die-with-parent", "--new-session", "--ro-bind", "/", "/", *_interpreter_binds()]
    argv += ["--dev", "/dev", "--proc", "/proc", "--unshare-pid"]
    argv += ["--seccomp", str(fd)] if fd is not None else []
    argv += ["--", *(SETPRIV if unprivileged else []), *command]
    try:
        return subprocess.run(
            argv, pass_fds=() if fd is None else (fd,), capture_output=True, text=True, timeout=60
        )
    finally:
        if fd is not None:
            os.close(fd)


def _errno_of(name: str, args: tuple, *, filtered: bool = True, unprivileged: bool = False) -> int:
    number = pyseccomp.resolve_syscall(pyseccomp.Arch.NATIVE, name)
    abi = "native"
    if number < 0:  # not a 64-bit call (stime, umount, vm86): make the 32-bit one
        number, abi = pyseccomp.resolve_syscall(pyseccomp.Arch.X86, name), "i386"
    return _errno_by_number(abi, number, args, filtered=filtered, unprivileged=unprivileged)


def _errno_by_number(abi: str, number: int, args: tuple, **how) -> int:
    finished = _sandboxed([sys.executable, "-c", SYSCALL_PROGRAM, repr((abi, number, args))], **how)
    assert finished.returncode == 0, finished.stderr
    return int(finished.stdout)


def test_it_tries_every_blocked_call():
    assert set(ATTEMPTS) == set(BLOCKED)


@pytest.mark.parametrize("name", sorted(BLOCKED))
def test_it_blocks_the_call(name):
    assert _errno_of(name, ATTEMPTS[name], filtered=False) != errno.EPERM, "the kernel refuses it anyway"
    assert _errno_of(name, ATTEMPTS[name]) == errno.EPERM


@pytest.mark.parametrize("flag", sorted(set(CLONE_NAMESPACE_FLAGS) - {"CLONE_NEWTIME"}))
def test_it_blocks_clone_into_a_new_namespace(flag):
    args = (CLONE_NAMESPACE_FLAGS[flag] | SIGCHLD, 0, 0, 0, 0)
    assert _errno_of("clone", args, filtered=False) == 0
    assert _errno_of("clone", args) == errno.EPERM


def test_it_blocks_clone_with_the_newtime_bit():
    # The kernel takes this bit as part of the exit signal in clone(); it never gets that far.
    assert _errno_of("clone", (CLONE_NAMESPACE_FLAGS["CLONE_NEWTIME"] | SIGCHLD, 0, 0, 0, 0)) == errno.EPERM


def test_it_allows_clone_without_namespace_flags():
    assert _errno_of("clone", (SIGCHLD, 0, 0, 0, 0)) == 0


def test_it_makes_clone3_unavailable_so_libc_falls_back_to_clone():
    assert _errno_of("clone3", (None, 0), filtered=False) == errno.EINVAL
    assert _errno_of("clone3", (None, 0)) == errno.ENOSYS


def test_it_blocks_new_user_namespaces_for_an_unprivileged_uid_too():
    assert _errno_of("unshare", (CLONE_NEWUSER,), unprivileged=True) == errno.EPERM
    assert _errno_of("clone", (CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0), unprivileged=True) == errno.EPERM


def test_it_blocks_32_bit_calls_through_int_0x80():
    unshare = pyseccomp.resolve_syscall(pyseccomp.Arch.X86, "unshare")
    getpid = pyseccomp.resolve_syscall(pyseccomp.Arch.X86, "getpid")
    assert _errno_by_number("i386", unshare, (CLONE_NEWUSER,), filtered=False) == 0
    assert _errno_by_number("i386", unshare, (CLONE_NEWUSER,)) == errno.EPERM
    assert _errno_by_number("i386", getpid, ()) == 0


def test_it_kills_a_process_that_uses_the_x32_abi():
    getpid = pyseccomp.resolve_syscall(pyseccomp.Arch.NATIVE, "getpid")
    command = [sys.executable, "-c", SYSCALL_PROGRAM, repr(("x32", getpid, ()))]
    assert _sandboxed(command, filtered=False).returncode == 0
    # bwrap's init reports its child's death by a signal as 128 + the signal.
    assert _sandboxed(command).returncode == 128 + signal.SIGSYS


def test_it_lets_setpriv_drop_to_an_unprivileged_uid():
    program = "import os, sys; print(os.getuid(), os.getgid(), os.getgroups(), sys.base_prefix, open('/proc/self/status').read())"
    finished = _sandboxed([sys.executable, "-c", program], unprivileged=True)
    assert finished.returncode == 0, finished.stderr
    assert finished.stdout.startswith(f"30000 30000 [] {sys.base_prefix} Name:")
    assert "\nCapEff:\t0000000000000000\n" in finished.stdout
    assert "\nNoNewPrivs:\t1\n" in finished.stdout
    assert "\nSeccomp:\t2\n" in finished.stdout


def test_it_keeps_ordinary_python_programs_working():
    finished = _sandboxed([sys.executable, "-c", ORDINARY_PROGRAM], unprivileged=True)
    assert finished.returncode == 0, finished.stderr
    assert finished.stdout.split() == ["thread", "fork", "exec", "socket", "mmap"]


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed on this host")
def test_it_keeps_node_working():
    program = """
        const { Worker } = require("worker_threads");
        const { execFileSync } = require("child_process");
        const fs = require("fs");
        fs.writeFileSync("/dev/null", "io");
        const child = execFileSync(process.execPath, ["-e", "process.stdout.write('exec')"]).toString();
        new Worker("require('worker_threads').parentPort.postMessage('worker')", { eval: true })
          .on("message", (message) => console.log(child, message));
    """
    finished = _sandboxed([shutil.which("node"), "-e", program], unprivileged=True)
    assert finished.returncode == 0, finished.stderr
    assert finished.stdout.split() == ["exec", "worker"]


def test_it_hands_out_the_program_in_a_fresh_fd():
    first, second = seccomp_fd(), seccomp_fd()
    try:
        assert first != second
        assert os.read(first, 1 << 20) == seccomp_program()
        assert os.read(second, 1 << 20) == seccomp_program()
    finally:
        os.close(first)
        os.close(second)
    assert len(seccomp_program()) % 8 == 0  # whole struct sock_filter entries


def test_it_says_how_to_install_libseccomp_when_it_is_missing(monkeypatch):
    monkeypatch.setitem(sys.modules, "pyseccomp", None)  # import now fails as without libseccomp
    seccomp.seccomp_program.cache_clear()
    try:
        with pytest.raises(SeccompUnavailable, match="apt-get install libseccomp2"):
            seccomp_program()
    finally:
        seccomp.seccomp_program.cache_clear()
