#!/usr/bin/env python3
"""The two ends of `tools/vm.sh start --fork-to FILE` and `--fork-from FILE`: a nested guest booted with
hyv.fork=1 waits at its fork point (tools/vm-agent.sh, hyv_fork_point) until a line arrives on its
agent port. `save` stops such a VM, writes its whole state to FILE through QEMU's migration (FILE
appears only once complete), lets it run again and releases its fork point. `resume` waits until a VM
started with `-incoming` from that file has loaded it, then releases that copy's fork point.

usage: vm-fork.py save VM_STATE_DIR FILE
       vm-fork.py resume VM_STATE_DIR"""

import os
import shlex
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "support"))
from qmp_client import Qmp, QmpError  # noqa: E402  (the one QMP client of the repository)

TIMEOUT = 600


def release_fork_point(vm_dir):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as agent:
        agent.connect(os.path.join(vm_dir, "agent.sock"))
        agent.sendall(b"go\n")


def save(vm_dir, path):
    partial = path + ".partial"
    with Qmp(os.path.join(vm_dir, "qmp.sock"), timeout=TIMEOUT) as qmp:
        qmp.execute("stop")
        # Most of the RAM is zero pages; the default bandwidth cap (128 MiB/s) only slows the rest.
        qmp.execute("migrate-set-parameters", {"max-bandwidth": 1 << 40})
        qmp.execute("migrate", {"uri": "exec:cat > " + shlex.quote(partial)})
        deadline = time.monotonic() + TIMEOUT
        while True:
            state = qmp.execute("query-migrate")
            status = state.get("status")
            if status == "completed":
                break
            if status in ("failed", "cancelled") or time.monotonic() > deadline:
                raise QmpError(f"saving the VM state to {partial}: {status}: {state.get('error-desc', '')}")
            time.sleep(0.2)
        # QEMU reports "completed" before it leaves the finish-migrate run state, in which it refuses
        # cont ("Migration is not finalized yet").
        while qmp.execute("query-status")["status"] == "finish-migrate":
            if time.monotonic() > deadline:
                raise QmpError(f"saving the VM state to {partial}: still finishing after {TIMEOUT} s")
            time.sleep(0.05)
        os.rename(partial, path)
        qmp.execute("cont")
    release_fork_point(vm_dir)


def resume(vm_dir):
    try:
        qmp = Qmp(os.path.join(vm_dir, "qmp.sock"), timeout=TIMEOUT)
    except (ConnectionRefusedError, FileNotFoundError):
        raise QmpError("QEMU exited while it loaded the state; its output says why") from None
    with qmp:
        deadline = time.monotonic() + TIMEOUT
        while (status := qmp.execute("query-status")["status"]) == "inmigrate":
            if time.monotonic() > deadline:
                raise QmpError(f"loading the VM state: not loaded after {TIMEOUT} s")
            time.sleep(0.2)
        # The saved VM was stopped while it was saved, and a copy starts in the state it was saved in.
        if status == "paused":
            qmp.execute("cont")
        elif status != "running":
            raise QmpError(f"loading the VM state: status {status}")
    release_fork_point(vm_dir)


def main():
    try:
        if len(sys.argv) == 4 and sys.argv[1] == "save":
            save(sys.argv[2], sys.argv[3])
        elif len(sys.argv) == 3 and sys.argv[1] == "resume":
            resume(sys.argv[2])
        else:
            sys.exit(__doc__.split("usage: ", 1)[1])
    except (OSError, QmpError) as e:
        sys.exit(f"vm-fork: {e}")


if __name__ == "__main__":
    main()
