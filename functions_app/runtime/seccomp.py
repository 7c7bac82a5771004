"""The seccomp filter bubblewrap installs on every sandboxed process.

The sandbox already takes away the function's capabilities, so most of these calls would fail
anyway; the filter is there for the kernel bugs behind them. Creating user namespaces, keyrings,
BPF programs, perf events and the like exposes kernel code that has repeatedly been the way out
of containers, and a function never needs it. The list follows Docker's default profile, but as
a deny-list (everything is allowed except the calls below, which fail with EPERM) so that
Python, Node.js and arbitrary custom ``bootstrap`` executables keep working unchanged.

The filter must leave alone what ``setpriv`` does after bwrap applies it, when the worker runs
as root (see sandbox.py): setresuid, setresgid, setgroups, prctl, capset and capget.

``seccomp_program()`` is the compiled BPF (what ``bwrap --seccomp FD`` reads) and
``seccomp_fd()`` a fresh fd holding it, for one bwrap to read. Needs the system's libseccomp
through the ``pyseccomp`` package.
"""

from __future__ import annotations

import errno
import functools
import importlib
import os
import tempfile
import types

# Each fails with EPERM, for every process in the sandbox.
BLOCKED: dict[str, str] = {
    # Namespaces and mounts: the way from a sandbox to its host.
    "unshare": "new namespaces; a user namespace opens kernel code meant for root",
    "setns": "joins another namespace",
    "mount": "changes the filesystem layout bwrap built",
    "umount": "the same, for 32-bit programs",
    "umount2": "removes the mounts that hide the host",
    "pivot_root": "changes the root filesystem",
    "open_tree": "new mount API: clones a mount",
    "move_mount": "new mount API: attaches a mount",
    "fsopen": "new mount API: creates a filesystem context",
    "fsconfig": "new mount API: configures a filesystem",
    "fsmount": "new mount API: makes a mount",
    "fspick": "new mount API: reconfigures a mount",
    "mount_setattr": "new mount API: changes mount flags",
    # Kernel surfaces with a long record of privilege escalations.
    "keyctl": "kernel keyrings are not namespaced and have had many bugs",
    "add_key": "kernel keyrings",
    "request_key": "kernel keyrings",
    "bpf": "loads programs into the kernel",
    "perf_event_open": "profiling interface; leaks kernel addresses and has had many bugs",
    "userfaultfd": "lets an exploit pause the kernel in the middle of a copy",
    "io_uring_setup": "io_uring, a large and often exploited surface (Docker blocks it too)",
    "io_uring_enter": "io_uring",
    "io_uring_register": "io_uring",
    # Reading or steering other processes.
    "ptrace": "inspects and controls other processes",
    "process_vm_readv": "reads another process's memory",
    "process_vm_writev": "writes another process's memory",
    "process_madvise": "advises on another process's memory",
    "pidfd_getfd": "takes a file descriptor from another process",
    "kcmp": "compares kernel objects of other processes, leaking their order",
    # File handles bypass the sandbox's view of paths ("shocker" escaped Docker this way).
    "open_by_handle_at": "opens a file by handle, outside the mounts",
    "name_to_handle_at": "the other half of open_by_handle_at",
    # The machine itself.
    "init_module": "loads a kernel module",
    "finit_module": "loads a kernel module",
    "delete_module": "unloads a kernel module",
    "create_module": "obsolete module call",
    "get_kernel_syms": "obsolete module call",
    "query_module": "obsolete module call",
    "kexec_load": "replaces the running kernel",
    "kexec_file_load": "replaces the running kernel",
    "reboot": "reboots the host",
    "swapon": "changes the host's swap",
    "swapoff": "changes the host's swap",
    "acct": "switches process accounting",
    "quotactl": "changes disk quotas",
    "quotactl_fd": "changes disk quotas",
    "syslog": "reads the kernel log, which leaks kernel addresses",
    "vhangup": "hangs up the terminal",
    "iopl": "raw I/O port access",
    "ioperm": "raw I/O port access",
    "vm86": "32-bit virtual 8086 mode",
    "vm86old": "32-bit virtual 8086 mode",
    # The clock is the host's; reading it is not affected (clock_gettime is not here).
    "settimeofday": "sets the host's clock",
    "clock_settime": "sets the host's clock",
    "clock_adjtime": "adjusts the host's clock",
    "adjtimex": "adjusts the host's clock",
    "stime": "sets the host's clock (32-bit)",
    # Obsolete or removed calls no program needs.
    "lookup_dcookie": "profiling leftover",
    "nfsservctl": "removed NFS server interface",
    "uselib": "obsolete shared-library loader",
    "ustat": "obsolete",
    "sysfs": "obsolete",
    "_sysctl": "removed",
}
# Deliberately allowed: personality (the risky personalities weaken only the caller's own ASLR, and
# libseccomp cannot deny "anything but these values" in one rule); the NUMA calls (mbind,
# set_mempolicy, move_pages), which runtimes use on their own memory; chroot, sethostname and
# the like, which fail without capabilities. pciconfig_* exist on neither x86 nor arm64.

# clone is how fork and threads are made, so only its namespace flags are refused. On x86_64
# and x86 the flags are the first argument. CLONE_NEWTIME is in the exit-signal byte of
# clone's flags, where it never appears legitimately; it is here so the list is complete.
CLONE_NAMESPACE_FLAGS = {
    "CLONE_NEWTIME": 0x00000080,
    "CLONE_NEWNS": 0x00020000,
    "CLONE_NEWCGROUP": 0x02000000,
    "CLONE_NEWUTS": 0x04000000,
    "CLONE_NEWIPC": 0x08000000,
    "CLONE_NEWUSER": 0x10000000,
    "CLONE_NEWPID": 0x20000000,
    "CLONE_NEWNET": 0x40000000,
}
# clone3 passes its flags in memory, out of the filter's sight: ENOSYS makes glibc fall back
# to clone, as under Docker.
CLONE3_ERRNO = errno.ENOSYS


class SeccompUnavailable(RuntimeError):
    pass


@functools.lru_cache(maxsize=1)
def seccomp_program() -> bytes:
    """The filter as a raw ``struct sock_filter`` array, built once per process."""
    seccomp = _pyseccomp()
    program = seccomp.SyscallFilter(seccomp.ALLOW)
    if seccomp.system_arch() == seccomp.Arch.X86_64:
        # A 64-bit process can still make 32-bit calls (int 0x80), which have numbers of their
        # own: give them the same rules. Any other ABI, x32 included, kills the process (the
        # bad-arch action): nothing we run uses one, and its calls would bypass the rules.
        program.add_arch(seccomp.Arch.X86)
    program.set_attr(seccomp.Attr.ACT_BADARCH, seccomp.KILL_PROCESS)
    # A binary tree of syscall numbers rather than a list: fewer comparisons per call.
    program.set_attr(seccomp.Attr.CTL_OPTIMIZE, 2)
    for name in BLOCKED:
        program.add_rule(seccomp.ERRNO(errno.EPERM), name)
    for flag in CLONE_NAMESPACE_FLAGS.values():
        program.add_rule(seccomp.ERRNO(errno.EPERM), "clone", seccomp.Arg(0, seccomp.MASKED_EQ, flag, flag))
    program.add_rule(seccomp.ERRNO(CLONE3_ERRNO), "clone3")
    with tempfile.TemporaryFile() as exported:
        program.export_bpf(exported)
        exported.seek(0)
        return exported.read()


def seccomp_fd() -> int:
    """A new fd, positioned at the start of ``seccomp_program()``, for ``bwrap --seccomp FD``.

    Pass it to bwrap (``pass_fds``) and close it once bwrap has started.
    """
    program = seccomp_program()
    fd = os.memfd_create("stratus-seccomp", os.MFD_CLOEXEC)
    os.write(fd, program)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def _pyseccomp() -> types.ModuleType:
    # Imported on first use: pyseccomp raises at import time when the system's libseccomp is
    # missing, and the rest of Stratus (STRATUS_SANDBOX=off, the web server) does without it.
    try:
        return importlib.import_module("pyseccomp")
    except (ImportError, RuntimeError) as error:
        raise SeccompUnavailable(
            f"libseccomp cannot be loaded ({error}). Install it (Debian/Ubuntu: "
            "`sudo apt-get install libseccomp2`) and the pyseccomp package."
        ) from error
