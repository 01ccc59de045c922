#!/usr/bin/env python3
"""Integration tests of the real hyvd and hyvctl binaries.

Each test starts hyvd as a subprocess on a temp database and temp socket and talks to it
with hyvctl (and, where the point is broken protocol, with a raw socket). A real
qemu-system-x86_64 (TCG, q35, no disks) provides the QMP socket of a raw QEMU VM.

usage: daemon_test.py --hyvd PATH --hyvctl PATH [unittest args]
"""
import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

HYVD = None
HYVCTL = None

EXIT_OK, EXIT_REFUSED, EXIT_USAGE, EXIT_UNREACHABLE, EXIT_NO_ANSWER = 0, 1, 2, 3, 4
UNKNOWN_GUID = "0002:c903:00a1:b2c3"
NOBODY_UID, NOGROUP_GID, USERS_GID = 65534, 65534, 100


def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def empty_config(workdir):
    """hyvd reads /etc/hyv/hyvd.conf unless told otherwise; tests must not depend on the machine's."""
    path = os.path.join(workdir, "empty.conf")
    open(path, "a").close()
    return path


class Daemon:
    """One hyvd process on files under `workdir`."""

    def __init__(self, workdir, db=None, sock=None, extra_args=(), config=None):
        self.db = db or os.path.join(workdir, "state", "hyv.db")
        self.sock = sock or os.path.join(workdir, "run", "hyvd.sock")
        self.log_path = os.path.join(workdir, f"hyvd-{time.monotonic_ns()}.log")
        self.log = open(self.log_path, "w")
        # With a config file the socket comes from it; otherwise from --socket.
        where = ["--config", config] if config else ["--config", empty_config(workdir), "--socket", self.sock]
        self.proc = subprocess.Popen(
            [HYVD, *where, "--db", self.db, "--sysfs-root", os.path.join(workdir, "sys"), "--log-level", "debug",
             *extra_args],
            stdout=self.log, stderr=subprocess.STDOUT)

    def wait_ready(self):
        wait_for(lambda: self.proc.poll() is not None or self._answers(), 20, f"hyvd on {self.sock}")
        if self.proc.poll() is not None:
            raise AssertionError(f"hyvd exited with {self.proc.returncode}:\n{self.output()}")
        return self

    def _answers(self):
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.connect(self.sock)
                return True
        except OSError:
            return False

    def output(self):
        if not self.log.closed:
            self.log.flush()
        with open(self.log_path) as f:
            return f.read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode


class Qemu:
    """A raw QEMU VM with no disks: it idles in firmware, which is all QMP needs."""

    def __init__(self, workdir, name):
        self.qmp = os.path.join(workdir, f"{name}.qmp")
        self.proc = subprocess.Popen(
            ["qemu-system-x86_64", "-accel", "tcg", "-machine", "q35", "-nodefaults", "-nographic", "-m", "64",
             "-name", name, "-qmp", f"unix:{self.qmp},server=on,wait=off", "-serial", "none", "-monitor", "none"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_for(lambda: os.path.exists(self.qmp) or self.proc.poll() is not None, 30, "QEMU's QMP socket")
        if self.proc.poll() is not None:
            raise AssertionError(f"QEMU exited: {self.proc.stderr.read().decode()}")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stderr.close()


def hyvctl(sock, *args, as_user=None, env=None):
    command = [HYVCTL, "--socket", sock, *args]
    if as_user is not None:
        uid, gid = as_user
        command = ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups", *command]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)


def raw_exchange(sock, payload):
    """Sends bytes, returns the first reply line parsed as JSON."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(20)
        s.connect(sock)
        s.sendall(payload)
        reply = b""
        while not reply.endswith(b"\n"):
            chunk = s.recv(4096)
            if not chunk:
                break
            reply += chunk
    return json.loads(reply)


class DaemonTestCase(unittest.TestCase):
    def setUp(self):
        self.workdir = tempfile.mkdtemp(prefix="hyv-daemon-test.")
        os.chmod(self.workdir, 0o755)  # the permission tests connect as nobody
        self.daemons = []
        self.qemus = []

    def tearDown(self):
        for daemon in self.daemons:
            daemon.stop()
        for qemu in self.qemus:
            qemu.stop()
        if self._failed():
            for daemon in self.daemons:
                sys.stderr.write(f"--- {daemon.log_path}\n{daemon.output()}\n")
        shutil.rmtree(self.workdir, ignore_errors=True)

    def _failed(self):
        # Python 3.11 records a failure in the result before tearDown runs; show hyvd's log then.
        result = getattr(self._outcome, "result", None)
        if result is None:
            return True
        return any(test is self for test, _ in result.failures + result.errors)

    def start_daemon(self, **kwargs):
        daemon = Daemon(self.workdir, **kwargs)
        self.daemons.append(daemon)
        return daemon.wait_ready()

    def start_qemu(self, name):
        qemu = Qemu(self.workdir, name)
        self.qemus.append(qemu)
        return qemu

    def assert_exit(self, result, code):
        self.assertEqual(result.returncode, code,
                         f"exit {result.returncode}, expected {code}\nstdout: {result.stdout}\nstderr: {result.stderr}")


class ReadOnlyCommands(DaemonTestCase):
    def test_devices_without_rdma_hardware_is_an_empty_table(self):
        daemon = self.start_daemon()
        table = hyvctl(daemon.sock, "devices")
        self.assert_exit(table, EXIT_OK)
        self.assertEqual(table.stdout.splitlines()[0].split(),
                         ["GUID", "IBDEV", "DRIVER", "LINK", "PORTS", "PRESENT", "HYV", "ASSIGNED-TO"])
        self.assertEqual(len(table.stdout.splitlines()), 1, table.stdout)
        as_json = hyvctl(daemon.sock, "devices", "--json")
        self.assert_exit(as_json, EXIT_OK)
        self.assertEqual(json.loads(as_json.stdout), [])

    def test_status_version_and_events(self):
        daemon = self.start_daemon()
        status = hyvctl(daemon.sock, "--json", "status")
        self.assert_exit(status, EXIT_OK)
        report = json.loads(status.stdout)
        self.assertEqual(report["devices_present"], 0)
        self.assertEqual(report["vms"], 0)
        version = hyvctl(daemon.sock, "version")
        self.assert_exit(version, EXIT_OK)
        self.assertIn("(API 1)", version.stdout)
        events = hyvctl(daemon.sock, "events", "--json", "--since", "0", "--limit", "5")
        self.assert_exit(events, EXIT_OK)
        kinds = [event["kind"] for event in json.loads(events.stdout)]
        self.assertIn("reconcile.done", kinds)  # the reconcile hyvd runs at start is audited


class VmLifecycle(DaemonTestCase):
    def test_add_list_and_remove_a_raw_qemu_vm(self):
        daemon = self.start_daemon()
        qemu = self.start_qemu("vm1")
        added = hyvctl(daemon.sock, "vm", "add", "vm1", "--qmp", qemu.qmp)
        self.assert_exit(added, EXIT_OK)
        self.assertIn("vm1", added.stdout)

        vms = hyvctl(daemon.sock, "vms", "--json")
        self.assert_exit(vms, EXIT_OK)
        listed = json.loads(vms.stdout)
        self.assertEqual([vm["name"] for vm in listed], ["vm1"])
        self.assertEqual(listed[0]["kind"], "qemu")
        self.assertEqual(listed[0]["qmp"], qemu.qmp)
        self.assertIs(listed[0]["running"], True, f"hyvd could not ask QEMU over QMP: {listed[0]['note']}")
        table = hyvctl(daemon.sock, "vms")
        self.assert_exit(table, EXIT_OK)
        self.assertRegex(table.stdout, r"\nvm1\s+qemu\s+yes\s+0\s+" + qemu.qmp)

        again = hyvctl(daemon.sock, "vm", "add", "vm1", "--qmp", qemu.qmp)
        self.assert_exit(again, EXIT_REFUSED)
        self.assertIn("[vm-exists]", again.stderr)

        removed = hyvctl(daemon.sock, "vm", "remove", "vm1")
        self.assert_exit(removed, EXIT_OK)
        self.assertEqual(json.loads(hyvctl(daemon.sock, "vms", "--json").stdout), [])

    def test_attach_of_an_unknown_guid_is_refused_and_names_the_known_devices(self):
        daemon = self.start_daemon()
        qemu = self.start_qemu("vm1")
        self.assert_exit(hyvctl(daemon.sock, "vm", "add", "vm1", "--qmp", qemu.qmp), EXIT_OK)
        attach = hyvctl(daemon.sock, "attach", "vm1", UNKNOWN_GUID, "--unisolated")
        self.assert_exit(attach, EXIT_REFUSED)
        self.assertEqual(len(attach.stderr.strip().splitlines()), 1, attach.stderr)
        self.assertIn("[unknown-guid]", attach.stderr)
        self.assertIn(UNKNOWN_GUID, attach.stderr)
        self.assertIn("this host has no RDMA devices", attach.stderr)
        as_json = hyvctl(daemon.sock, "--json", "attach", "vm1", UNKNOWN_GUID, "--ip", "10.0.0.5/24")
        self.assert_exit(as_json, EXIT_REFUSED)
        self.assertEqual(json.loads(as_json.stdout)["error"]["code"], "unknown-guid")
        self.assertEqual(json.loads(hyvctl(daemon.sock, "list", "--json").stdout), [])

    def test_attach_to_an_unknown_vm_and_usage_errors(self):
        daemon = self.start_daemon()
        unknown_vm = hyvctl(daemon.sock, "attach", "nosuchvm", UNKNOWN_GUID, "--unisolated")
        self.assert_exit(unknown_vm, EXIT_REFUSED)
        self.assertIn("[unknown-vm]", unknown_vm.stderr)
        # A network identity is required, and checked before anything reaches hyvd.
        no_identity = hyvctl(daemon.sock, "attach", "nosuchvm", UNKNOWN_GUID)
        self.assert_exit(no_identity, EXIT_USAGE)
        self.assertEqual(no_identity.stderr.strip(),
                         "hyvctl: attach needs a network identity: give --ip ADDR/PREFIX, or --unisolated to share "
                         "the host's GIDs without isolation [identity-required]")
        for bad, code in [(["--ip", "10.0.0.5"], "bad-ip"), (["--ip", "10.0.0.5/24", "--mac", "01:00:5e:00:00:01"],
                                                              "bad-mac"),
                          (["--ip", "10.0.0.5/24", "--vlan", "4095"], "bad-vlan"),
                          (["--ip", "10.0.0.5/24", "--unisolated"], "bad-identity")]:
            refused = hyvctl(daemon.sock, "attach", "nosuchvm", UNKNOWN_GUID, *bad)
            self.assert_exit(refused, EXIT_USAGE)
            self.assertEqual(len(refused.stderr.strip().splitlines()), 1, refused.stderr)
            self.assertIn(f"[{code}]", refused.stderr)
        # Through the API (no hyvctl in between) the daemon refuses it too.
        raw = raw_exchange(daemon.sock, b'{"api":1,"cmd":"attach","args":{"vm":"nosuchvm","guid":"'
                           + UNKNOWN_GUID.encode() + b'"}}\n')
        self.assertEqual(raw["error"]["code"], "identity-required", raw)
        self.assert_exit(hyvctl(daemon.sock, "attach", "vm1", "not-a-guid"), EXIT_USAGE)
        self.assert_exit(hyvctl(daemon.sock, "attach", "vm1"), EXIT_USAGE)
        self.assert_exit(hyvctl(daemon.sock, "frobnicate"), EXIT_USAGE)
        self.assert_exit(hyvctl(daemon.sock, "vm", "add", "vm1", "--qmp", "/x", "--libvirt"), EXIT_USAGE)


class Robustness(DaemonTestCase):
    def test_oversized_and_malformed_requests_leave_the_daemon_serving(self):
        daemon = self.start_daemon()
        too_big = raw_exchange(daemon.sock, b'{"api":1,"cmd":"devices","pad":"' + b"x" * (200 * 1024) + b'"}\n')
        self.assertFalse(too_big["ok"])
        self.assertEqual(too_big["error"]["code"], "request-too-large")
        malformed = raw_exchange(daemon.sock, b'{"api":1,"cmd":\n')
        self.assertEqual(malformed["error"]["code"], "malformed-json")
        unknown = raw_exchange(daemon.sock, b'{"api":1,"id":"x7","cmd":"format-disk"}\n')
        self.assertEqual(unknown["id"], "x7")
        self.assertEqual(unknown["error"]["code"], "unknown-command")
        bad_args = raw_exchange(daemon.sock, b'{"api":1,"cmd":"attach","args":{"vm":"vm1","guid":"nope"}}\n')
        self.assertEqual(bad_args["error"]["code"], "invalid-guid")
        self.assertIsNone(daemon.proc.poll(), "hyvd died")
        self.assert_exit(hyvctl(daemon.sock, "status"), EXIT_OK)

    def test_many_concurrent_clients(self):
        daemon = self.start_daemon()
        clients = [subprocess.Popen([HYVCTL, "--socket", daemon.sock, "status", "--json"], stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True) for _ in range(12)]
        for client in clients:
            out, err = client.communicate(timeout=60)
            self.assertEqual(client.returncode, EXIT_OK, err)
            self.assertIn("devices_present", json.loads(out))

    def test_unreachable_daemon_is_exit_3(self):
        result = hyvctl(os.path.join(self.workdir, "nobody-listens.sock"), "devices")
        self.assert_exit(result, EXIT_UNREACHABLE)
        self.assertIn("is hyvd running?", result.stderr)

    def test_hyv_socket_environment_variable_picks_the_daemon(self):
        daemon = self.start_daemon()
        env = {**os.environ, "HYV_SOCKET": daemon.sock}
        result = subprocess.run([HYVCTL, "--json", "status"], capture_output=True, text=True, timeout=60, env=env)
        self.assert_exit(result, EXIT_OK)
        self.assertIn("devices_present", json.loads(result.stdout))
        # --socket wins over the environment.
        elsewhere = os.path.join(self.workdir, "nobody-listens.sock")
        result = hyvctl(elsewhere, "status", env=env)
        self.assert_exit(result, EXIT_UNREACHABLE)
        self.assertIn(elsewhere, result.stderr)

    def test_a_peer_that_drops_the_connection_is_exit_4(self):
        path = os.path.join(self.workdir, "drops.sock")
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
            listener.bind(path)
            listener.listen(1)
            client = subprocess.Popen([HYVCTL, "--socket", path, "status"], stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True)
            listener.settimeout(30)
            conn, _ = listener.accept()
            conn.recv(4096)
            conn.close()
            out, err = client.communicate(timeout=60)
        self.assertEqual(client.returncode, EXIT_NO_ANSWER, err)
        self.assertEqual(len(err.strip().splitlines()), 1, err)


class Exclusivity(DaemonTestCase):
    def test_second_daemon_on_the_same_database_is_refused(self):
        first = self.start_daemon()
        second = subprocess.run(
            [HYVD, "--config", empty_config(self.workdir), "--db", first.db, "--socket",
             os.path.join(self.workdir, "run", "second.sock"), "--sysfs-root", os.path.join(self.workdir, "sys")],
            capture_output=True, text=True, timeout=30)
        self.assertEqual(second.returncode, 1, second.stderr)
        self.assertIn("in use by another hyvd", second.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.workdir, "run", "second.sock")))
        self.assert_exit(hyvctl(first.sock, "status"), EXIT_OK)

    def test_second_daemon_on_the_same_socket_is_refused(self):
        first = self.start_daemon()
        second = subprocess.run(
            [HYVD, "--config", empty_config(self.workdir), "--db",
             os.path.join(self.workdir, "other.db"), "--socket", first.sock, "--sysfs-root",
             os.path.join(self.workdir, "sys")],
            capture_output=True, text=True, timeout=30)
        self.assertEqual(second.returncode, 1, second.stderr)
        self.assertIn("another hyvd already serves", second.stderr)
        self.assert_exit(hyvctl(first.sock, "status"), EXIT_OK)


class Lifecycle(DaemonTestCase):
    def test_sigterm_stops_cleanly_and_state_survives_a_restart(self):
        daemon = self.start_daemon()
        qemu = self.start_qemu("vm1")
        self.assert_exit(hyvctl(daemon.sock, "vm", "add", "vm1", "--qmp", qemu.qmp), EXIT_OK)
        # An idle client must not keep the daemon from stopping.
        idle = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        idle.connect(daemon.sock)
        started = time.monotonic()
        self.assertEqual(daemon.stop(), 0, daemon.output())
        self.assertLess(time.monotonic() - started, 5)
        idle.close()
        self.assertFalse(os.path.exists(daemon.sock), "socket left behind")
        self.assertIn("hyvd stopped", daemon.output())

        again = self.start_daemon(db=daemon.db, sock=daemon.sock)
        vms = hyvctl(again.sock, "vms", "--json")
        self.assert_exit(vms, EXIT_OK)
        self.assertEqual([vm["name"] for vm in json.loads(vms.stdout)], ["vm1"])

    def test_config_file_sets_options_and_rejects_unknown_keys(self):
        config = os.path.join(self.workdir, "hyvd.conf")
        sock = os.path.join(self.workdir, "from-config.sock")
        with open(config, "w") as f:
            f.write(f"# comment\nsocket = \"{sock}\"\nsocket-mode = \"0600\"\ndetach-timeout = 30\n")
        daemon = Daemon(self.workdir, sock=sock, config=config)
        self.daemons.append(daemon)
        daemon.wait_ready()
        self.assertEqual(os.stat(sock).st_mode & 0o777, 0o600)
        self.assert_exit(hyvctl(sock, "status"), EXIT_OK)

        with open(config, "a") as f:
            f.write("sockett = /x\n")
        bad = subprocess.run([HYVD, "--config", config, "--db", os.path.join(self.workdir, "b.db")],
                             capture_output=True, text=True, timeout=30)
        self.assertEqual(bad.returncode, 2, bad.stderr)
        self.assertIn("sockett", bad.stderr)


    def test_the_shipped_example_config_is_valid(self):
        example = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "hyvd", "hyvd.conf.example")
        sock = os.path.join(self.workdir, "example.sock")
        with open(example) as f:
            text = f.read()
        self.assertIn('db = "/var/lib/hyv/hyv.db"', text)
        self.assertIn('socket = "/run/hyv/hyvd.sock"', text)
        text = text.replace("/var/lib/hyv/hyv.db", os.path.join(self.workdir, "example.db"))
        text = text.replace("/run/hyv/hyvd.sock", sock)
        text = text.replace('sysfs-root = "/sys"', f'sysfs-root = "{os.path.join(self.workdir, "sys")}"')
        config = os.path.join(self.workdir, "example.conf")
        with open(config, "w") as f:
            f.write(text)
        daemon = Daemon(self.workdir, sock=sock, config=config)
        self.daemons.append(daemon)
        daemon.wait_ready()
        self.assert_exit(hyvctl(sock, "status"), EXIT_OK)


class UnreachableLibvirt(DaemonTestCase):
    """hyvd serves raw QEMU VMs while libvirtd is down; that is worth a warning only once a libvirt VM is
    registered (the URI points at a socket nobody listens on, whatever runs on this machine)."""

    def libvirt_lines(self, daemon, level):
        return [line for line in daemon.output().splitlines()
                if f" {level} [" in line and "cannot connect to libvirt" in line]

    def test_unreachable_libvirtd_warns_only_with_a_libvirt_vm_registered(self):
        uri = f"qemu+unix:///system?socket={os.path.join(self.workdir, 'no-libvirtd.sock')}"
        args = ["--libvirt-uri", uri]
        daemon = self.start_daemon(extra_args=args)  # ready: the reconcile at start is logged
        self.assertEqual(self.libvirt_lines(daemon, "warning"), [],
                         "no libvirt VM is registered: an unreachable libvirtd is no warning")
        self.assertNotEqual(self.libvirt_lines(daemon, "debug"), [], "but it is still logged (at debug)")
        report = hyvctl(daemon.sock, "--json", "reconcile")
        self.assert_exit(report, EXIT_OK)
        report = json.loads(report.stdout)
        self.assertEqual(report["problems"], [])
        self.assertTrue(any("cannot connect to libvirt" in note for note in report["notes"]), report)
        self.assertIn("note: ", hyvctl(daemon.sock, "reconcile").stdout)

        self.assert_exit(hyvctl(daemon.sock, "vm", "add", "dom1", "--libvirt"), EXIT_OK)
        self.assertEqual(daemon.stop(), 0, daemon.output())
        again = self.start_daemon(db=daemon.db, sock=daemon.sock, extra_args=args)
        self.assertNotEqual(self.libvirt_lines(again, "warning"), [],
                            "libvirt VM dom1 is registered: an unreachable libvirtd is a warning")


class Permissions(DaemonTestCase):
    def setUp(self):
        super().setUp()
        if os.geteuid() != 0:
            self.fail("the permission tests switch users with setpriv and must run as root")

    def test_only_root_and_the_api_group_are_served(self):
        daemon = self.start_daemon(extra_args=["--group", "nogroup", "--socket-mode", "0666"])
        member = hyvctl(daemon.sock, "status", as_user=(NOBODY_UID, NOGROUP_GID))
        self.assert_exit(member, EXIT_OK)
        stranger = hyvctl(daemon.sock, "status", as_user=(NOBODY_UID, USERS_GID))
        self.assert_exit(stranger, EXIT_REFUSED)
        self.assertIn("[permission-denied]", stranger.stderr)
        self.assert_exit(hyvctl(daemon.sock, "status"), EXIT_OK)

    def test_socket_mode_keeps_others_out_before_they_reach_hyvd(self):
        daemon = self.start_daemon()
        self.assertEqual(os.stat(daemon.sock).st_mode & 0o777, 0o660)
        outsider = hyvctl(daemon.sock, "status", as_user=(NOBODY_UID, USERS_GID))
        self.assert_exit(outsider, EXIT_UNREACHABLE)
        self.assertIn("Permission denied", outsider.stderr)


def main():
    global HYVD, HYVCTL
    parser = argparse.ArgumentParser()
    parser.add_argument("--hyvd", required=True)
    parser.add_argument("--hyvctl", required=True)
    args, rest = parser.parse_known_args()
    HYVD, HYVCTL = args.hyvd, args.hyvctl
    unittest.main(argv=[sys.argv[0], "-v", *rest])


if __name__ == "__main__":
    main()
