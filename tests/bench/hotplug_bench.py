#!/usr/bin/env python3
"""Hot-plug benchmark, run inside the test host VM by hotplug_bench.sh (which starts hyvd and the
nested guest). Measures, in one run:
  latency:    raw QMP device_add / device_del(+DEVICE_DELETED) of a hyv mdev against a booted nested
              guest, interleaved with `hyvctl attach` / `hyvctl detach` of the same device into the
              same guest (interleaving spreads the machine's background load over both sides);
  throughput: device_add of one mdev into each of M paused QEMUs, raw QMP vs hyvctl, sequential and
              from M parallel clients.
Prints a table and one `RESULT_JSON {...}` line."""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import threading
import time
import uuid as uuidlib

from qmp_client import Qmp  # tests/support, on PYTHONPATH

HYV_FUNCTION_IDS = "1af4:107f"  # virtio-pci modern, virtio id 63 (docs/device.md)
MDEV_TYPE = "hyv-vrdma"
RAW_QDEV_ID = "bench-raw"
GUEST_SETTLE_S = 1.0  # after the probe, so that the guest is idle when the timed unplug starts


def log(message):
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def fail(message):
    raise SystemExit(f"FAIL: {message}")


def ms_since(start):
    return (time.monotonic() - start) * 1000.0


class Bench:
    def __init__(self, args):
        self.args = args
        self.samples = {}   # name -> [ms]
        self.throughput = {}  # name -> {"total_ms", "per_second", "latencies_ms"}
        self.breakdown = {}
        self.guest_probes = 0

    def record(self, name, value_ms):
        self.samples.setdefault(name, []).append(value_ms)

    # --- host side helpers -------------------------------------------------------------------
    def mdev_create(self):
        uuid = str(uuidlib.uuid4())
        path = f"/sys/class/hyv/{self.args.ibdev}/mdev_supported_types/{MDEV_TYPE}/create"
        with open(path, "w") as f:
            f.write(uuid)
        return uuid

    @staticmethod
    def mdev_remove(uuid):
        with open(f"/sys/bus/mdev/devices/{uuid}/remove", "w") as f:
            f.write("1")

    @staticmethod
    def mdev_count():
        try:
            return len(os.listdir("/sys/bus/mdev/devices"))
        except FileNotFoundError:
            return 0

    def ctl_pid(self, *argv, check=True):
        """Runs hyvctl; returns (parsed --json output, hyvctl's pid: hyvd logs each request with it)."""
        cmd = [self.args.hyvctl, "--socket", self.args.socket, "--json", *argv]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        out, err = proc.communicate()
        if check and proc.returncode != 0:
            fail(f"hyvctl {' '.join(argv)} exited {proc.returncode}: {err.strip() or out.strip()}")
        return (json.loads(out) if out.strip() else None), proc.pid

    def ctl(self, *argv, check=True):
        return self.ctl_pid(*argv, check=check)[0]

    def vm_add(self, name, qmp):
        """Registers a VM; one registered before with the same QMP socket (a re-run on the same db) is fine."""
        known = {vm["name"]: vm for vm in self.ctl("vms")}
        if name in known and known[name]["qmp"] == qmp:
            return
        self.ctl("vm", "add", name, "--qmp", qmp)

    def timed_ctl(self, *argv):
        """Runs hyvctl end to end (process start to exit): (ms, result, pid, wall start, wall end)."""
        wall_start = time.time()
        start = time.monotonic()
        result, pid = self.ctl_pid(*argv)
        elapsed = ms_since(start)
        return elapsed, result, pid, wall_start, time.time()

    def hyvd_request_times(self, log_offset):
        """hyvd's own time per request (its `API: CMD ... by uid U pid P ok in N ms` debug lines), by pid."""
        with open(self.args.hyvd_log, errors="replace") as f:
            f.seek(log_offset)
            text = f.read()
        return {int(m.group(2)): (m.group(1), float(m.group(3)))
                for m in re.finditer(r"API: (attach|detach) .* by uid \d+ pid (\d+) ok in (\d+) ms", text)}

    def guest_probed(self, probes):
        """The guest lists the function and its driver logged at least `probes` probes with our GUID."""
        check = (f"lspci -nn | grep -q '\\[{HYV_FUNCTION_IDS}\\]' && "
                 f"[ $(dmesg | grep -c 'virtio_hyv: host device GUID {self.args.guid} ') -ge {probes} ]")
        done = subprocess.run([self.args.vm_sh, "exec", self.args.guest, "--timeout", "120", "--", "sh", "-c", check],
                              capture_output=True, text=True)
        return done.returncode == 0

    def guest_probe_count(self):
        done = subprocess.run([self.args.vm_sh, "exec", self.args.guest, "--timeout", "120", "--", "sh", "-c",
                               f"dmesg | grep -c 'virtio_hyv: host device GUID {self.args.guid} ' || true"],
                              capture_output=True, text=True, check=True)
        return int(done.stdout.strip() or 0)

    def wait_guest_probed(self, what):
        """Not timed. Unplug is only comparable once the guest driver finished probing: a device_del
        that races the probe waits for it."""
        self.guest_probes += 1
        deadline = time.monotonic() + self.args.guest_wait
        while not self.guest_probed(self.guest_probes):
            if time.monotonic() > deadline:
                fail(f"guest {self.args.guest} did not list [{HYV_FUNCTION_IDS}] and probe it within "
                     f"{self.args.guest_wait} s after {what} (machine too busy? raise --guest-wait)")
            time.sleep(1)
        time.sleep(GUEST_SETTLE_S)

    # --- latency: raw QMP and hyvd, interleaved ----------------------------------------------
    def raw_cycle(self, i):
        """One connection per command, as hyvd does: a connection held open across the guest's probe
        made the later device_del -> DEVICE_DELETED 2-3x slower in trials (unexplained), which would
        flatter hyvd."""
        start = time.monotonic()
        uuid = self.mdev_create()
        self.record("sysfs mdev create", ms_since(start))
        start = time.monotonic()
        qmp = Qmp(self.args.guest_qmp)
        self.record("QMP connect+negotiate", ms_since(start))
        with qmp:
            start = time.monotonic()
            qmp.execute("device_add", {"driver": "vfio-pci", "sysfsdev": f"/sys/bus/mdev/devices/{uuid}",
                                       "id": RAW_QDEV_ID, "bus": "hp0"})
            self.record("raw device_add", ms_since(start))
        self.wait_guest_probed(f"raw device_add #{i}")
        with Qmp(self.args.guest_qmp) as qmp:
            start = time.monotonic()
            qmp.execute("device_del", {"id": RAW_QDEV_ID})
            qmp.wait_device_deleted(RAW_QDEV_ID, timeout=180)
            self.record("raw device_del", ms_since(start))
        start = time.monotonic()
        self.mdev_remove(uuid)
        self.record("sysfs mdev remove", ms_since(start))

    def hyvd_cycle(self, i, guest_ops):
        elapsed, result, pid, w0, w1 = self.timed_ctl("attach", self.args.guest, self.args.guid, "--unisolated")
        if result["assignment"]["state"] != "attached":
            fail(f"hyvctl attach #{i} ended in state {result['assignment']['state']}")
        self.record("hyvctl attach", elapsed)
        guest_ops.append((result["op_id"], pid, w0, w1))
        self.wait_guest_probed(f"hyvctl attach #{i}")
        elapsed, result, pid, w0, w1 = self.timed_ctl("detach", self.args.guest, self.args.guid)
        self.record("hyvctl detach", elapsed)
        guest_ops.append((result["op_id"], pid, w0, w1))
        # What a hyvctl invocation costs by itself (process start over 9p, connect, one trivial request).
        start = time.monotonic()
        self.ctl("version")
        self.record("hyvctl version", ms_since(start))

    def latency(self):
        a = self.args
        self.vm_add(a.guest, a.guest_qmp)
        self.guest_probes = self.guest_probe_count()
        first_event = self.ctl("status")["last_event_id"]
        log_offset = os.path.getsize(a.hyvd_log)
        baseline_mdevs = self.mdev_count()
        guest_ops = []
        for i in range(1, a.iterations + 1):
            self.raw_cycle(i)
            self.hyvd_cycle(i, guest_ops)
            if self.mdev_count() != baseline_mdevs:
                fail(f"{self.mdev_count()} mdevs after iteration {i}, {baseline_mdevs} before: a cycle leaked one")
            log(f"latency iteration {i}/{a.iterations}: raw add {self.samples['raw device_add'][-1]:.0f} ms, "
                f"del {self.samples['raw device_del'][-1]:.0f} ms; hyvctl attach "
                f"{self.samples['hyvctl attach'][-1]:.0f} ms, detach {self.samples['hyvctl detach'][-1]:.0f} ms")
        served = self.hyvd_request_times(log_offset)
        for _, pid, _, _ in guest_ops:
            if pid not in served:
                fail(f"no `API: ... pid {pid} ok in N ms` line in {a.hyvd_log} (is hyvd at --log-level debug?)")
            command, ms = served[pid]
            self.record(f"hyvd {command} (in hyvd)", ms)
        self.breakdown = self.event_breakdown(first_event, guest_ops)

    def event_breakdown(self, since, ops):
        """Where hyvd's time goes, from its audit events (ms timestamps): per step, the median gap
        between consecutive events of one operation; the client side is hyvctl's wall time before the
        first and after the last event."""
        events = self.ctl("events", "--since", str(since), "--limit", "10000")
        by_op = {}
        for e in events:
            by_op.setdefault(e["op_id"], []).append(e)
        steps = {}
        for op_id, _, w0, w1 in ops:
            op_events = sorted(by_op.get(op_id, []), key=lambda e: e["id"])
            if not op_events:
                continue
            kind = op_events[0]["kind"].split(".")[0]
            steps.setdefault(f"{kind}: hyvctl start .. {op_events[0]['kind']}", []).append(
                op_events[0]["time"] - w0 * 1000.0)
            for before, after in zip(op_events, op_events[1:]):
                steps.setdefault(f"{kind}: {before['kind']} .. {after['kind']}", []).append(
                    after["time"] - before["time"])
            steps.setdefault(f"{kind}: {op_events[-1]['kind']} .. hyvctl exit", []).append(
                w1 * 1000.0 - op_events[-1]["time"])
        return {step: statistics.median(values) for step, values in steps.items()}

    # --- throughput across M paused QEMUs --------------------------------------------------------
    def start_vms(self):
        procs = []
        for n in range(self.args.vms):
            qmp = os.path.join(self.args.work, f"tp{n}.qmp")
            if os.path.exists(qmp):
                os.unlink(qmp)
            procs.append(subprocess.Popen(
                ["qemu-system-x86_64", "-accel", "tcg", "-machine", "q35", "-nodefaults", "-display", "none",
                 "-S", "-m", "64", "-device", "pcie-root-port,id=hp0,chassis=1,slot=1",
                 "-qmp", f"unix:{qmp},server=on,wait=off"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        deadline = time.monotonic() + 120
        for n in range(self.args.vms):
            while not os.path.exists(self.vm_qmp(n)):
                if time.monotonic() > deadline or procs[n].poll() is not None:
                    fail(f"QEMU tp{n} did not open {self.vm_qmp(n)}")
                time.sleep(0.1)
        return procs

    def vm_qmp(self, n):
        return os.path.join(self.args.work, f"tp{n}.qmp")

    @staticmethod
    def stop_vms(procs):
        for p in procs:
            p.kill()
        for p in procs:
            p.wait()

    def run_clients(self, name, parallel, work):
        """Runs work(n) for every VM n, sequentially or from one thread per VM released together."""
        count = self.args.vms
        latencies = [0.0] * count
        errors = []
        gate = threading.Barrier(count + 1 if parallel else 1)

        def client(n):
            if parallel:
                gate.wait()
            start = time.monotonic()
            try:
                work(n)
            except BaseException as e:  # noqa: BLE001 - reported below, the benchmark fails
                errors.append(f"VM tp{n}: {e}")
            latencies[n] = ms_since(start)

        if parallel:
            threads = [threading.Thread(target=client, args=(n,)) for n in range(count)]
            for t in threads:
                t.start()
            start = time.monotonic()
            gate.wait()
            for t in threads:
                t.join()
        else:
            start = time.monotonic()
            for n in range(count):
                client(n)
        total = ms_since(start)
        if errors:
            fail(f"{name}: " + "; ".join(errors))
        self.throughput[name] = {"total_ms": total, "per_second": count / (total / 1000.0),
                                 "latencies_ms": latencies}
        log(f"{name}: {count} attaches in {total:.0f} ms ({count / (total / 1000.0):.2f}/s)")

    def raw_throughput(self, parallel):
        procs = self.start_vms()
        uuids = [self.mdev_create() for _ in range(self.args.vms)]
        clients = [Qmp(self.vm_qmp(n)) for n in range(self.args.vms)]
        try:
            def add(n):
                clients[n].execute("device_add", {"driver": "vfio-pci", "id": RAW_QDEV_ID, "bus": "hp0",
                                                  "sysfsdev": f"/sys/bus/mdev/devices/{uuids[n]}"})
            self.run_clients(f"raw device_add, {'parallel' if parallel else 'sequential'}", parallel, add)
        finally:
            for c in clients:
                c.close()
            # A paused QEMU has no guest to acknowledge device_del: killing QEMU releases the mdev.
            self.stop_vms(procs)
            for u in uuids:
                self.mdev_remove(u)

    def hyvd_throughput(self, parallel):
        procs = self.start_vms()
        try:
            def attach(n):
                result = self.ctl("attach", f"tp{n}", self.args.guid, "--unisolated")
                if result["assignment"]["state"] != "attached":
                    raise RuntimeError(f"state {result['assignment']['state']}")
            self.run_clients(f"hyvctl attach, {'parallel' if parallel else 'sequential'}", parallel, attach)
        finally:
            self.stop_vms(procs)
            # With its QEMU gone an assignment's detach just removes the mdev and the row.
            self.ctl("reconcile", check=False)
            for n in range(self.args.vms):
                self.ctl("detach", f"tp{n}", self.args.guid, check=False)
        left = [a for a in self.ctl("list") if a["vm"].startswith("tp")]
        if left:
            fail(f"{len(left)} assignments left after killing the throughput VMs: {left[:2]}")

    def throughput_runs(self):
        baseline_mdevs = self.mdev_count()
        for n in range(self.args.vms):
            self.vm_add(f"tp{n}", self.vm_qmp(n))
        for parallel in (False, True):
            self.raw_throughput(parallel)
            self.hyvd_throughput(parallel)
        if self.mdev_count() != baseline_mdevs:
            fail(f"{self.mdev_count()} mdevs after the throughput runs, {baseline_mdevs} before")

    # --- report ------------------------------------------------------------------------------------
    @staticmethod
    def p90(values):
        ordered = sorted(values)
        return ordered[max(0, -(-len(ordered) * 9 // 10) - 1)]  # nearest rank

    def summary(self):
        rows = {}
        for name, values in self.samples.items():
            rows[name] = {"n": len(values), "median_ms": statistics.median(values), "p90_ms": self.p90(values),
                          "min_ms": min(values), "max_ms": max(values)}
        med = {name: row["median_ms"] for name, row in rows.items()}
        ratios = {
            "attach: hyvctl attach / raw device_add": med["hyvctl attach"] / med["raw device_add"],
            "detach: hyvctl detach / raw device_del": med["hyvctl detach"] / med["raw device_del"],
            "attach: hyvd attach (in hyvd) / raw device_add":
                med["hyvd attach (in hyvd)"] / med["raw device_add"],
            "detach: hyvd detach (in hyvd) / raw device_del":
                med["hyvd detach (in hyvd)"] / med["raw device_del"],
            "attach: hyvctl attach / (raw device_add + mdev create + QMP connect)":
                med["hyvctl attach"] / (med["raw device_add"] + med["sysfs mdev create"] +
                                        med["QMP connect+negotiate"]),
            "detach: hyvctl detach / (raw device_del + mdev remove + QMP connect)":
                med["hyvctl detach"] / (med["raw device_del"] + med["sysfs mdev remove"] +
                                        med["QMP connect+negotiate"]),
        }
        return {"iterations": self.args.iterations, "vms": self.args.vms, "latency": rows, "ratios": ratios,
                "hyvd_breakdown_median_ms": self.breakdown,
                "throughput": {k: {"total_ms": v["total_ms"], "per_second": v["per_second"],
                                   "median_latency_ms": statistics.median(v["latencies_ms"])}
                               for k, v in self.throughput.items()}}

    @staticmethod
    def print_table(s):
        print(f"\n== hot-plug latency: {s['iterations']} iterations, nested guest, interleaved raw/hyvd ==")
        print(f"{'operation':<28}{'n':>4}{'median ms':>12}{'p90 ms':>10}{'min ms':>10}{'max ms':>10}")
        for name, r in s["latency"].items():
            print(f"{name:<28}{r['n']:>4}{r['median_ms']:>12.1f}{r['p90_ms']:>10.1f}"
                  f"{r['min_ms']:>10.1f}{r['max_ms']:>10.1f}")
        print("\n== ratios of medians (target: hyvd adds under 10% over raw QMP) ==")
        for name, ratio in s["ratios"].items():
            verdict = "within target" if ratio < 1.10 else f"over target by {(ratio - 1.10) * 100:.0f} points"
            print(f"{name:<72}{ratio:>7.2f}  ({(ratio - 1) * 100:+.0f}%, {verdict})")
        print("\n== where hyvd's time goes (median ms between audit events of one operation) ==")
        for step, value in s["hyvd_breakdown_median_ms"].items():
            print(f"{step:<72}{value:>8.0f}")
        print(f"\n== throughput: one attach into each of {s['vms']} paused QEMUs ==")
        print(f"{'mode':<34}{'total ms':>10}{'per s':>8}{'median per-op ms':>18}")
        for name, t in s["throughput"].items():
            print(f"{name:<34}{t['total_ms']:>10.0f}{t['per_second']:>8.2f}{t['median_latency_ms']:>18.0f}")
        print("RESULT_JSON " + json.dumps(s), flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--hyvctl", required=True)
    p.add_argument("--socket", required=True, help="hyvd API socket")
    p.add_argument("--guest", required=True, help="running nested guest (tools/vm.sh name)")
    p.add_argument("--guest-qmp", required=True)
    p.add_argument("--vm-sh", required=True)
    p.add_argument("--guid", required=True)
    p.add_argument("--ibdev", default="rxe0")
    p.add_argument("--iterations", type=int, default=10)
    p.add_argument("--vms", type=int, default=16)
    p.add_argument("--hyvd-log", required=True, help="hyvd's stderr at --log-level debug")
    p.add_argument("--guest-wait", type=int, default=600, help="seconds the guest may take to enumerate")
    p.add_argument("--work", required=True, help="writable directory for QMP sockets")
    args = p.parse_args()
    bench = Bench(args)
    bench.latency()
    bench.throughput_runs()
    bench.print_table(bench.summary())


if __name__ == "__main__":
    main()
