#!/usr/bin/env python3
"""Checks, inside the test host, that hyvd's assignments match reality: every row is `attached`
(or `inactive` when its VM is stopped), its mdev exists in sysfs and the raw QEMU VM holds it under
the row's qdev id at the row's guest PCI address; no hyv mdev exists without a row and the VM holds
no mdev without a row. Prints what differs and exits 1; prints a one-line summary and exits 0.
usage: daemon_consistency.py --hyvctl PATH --socket PATH --vm NAME --qmp PATH"""

import argparse
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench"))
from qmp_timing import Qmp  # noqa: E402

MDEV_DEVICES = "/sys/bus/mdev/devices"
HYV_MDEV_DRIVER = "hyv_mdev"


def hyv_mdevs():
    """UUIDs of the mdevs whose vendor driver is hyv_mdev (other vendors' are none of our business)."""
    found = set()
    for uuid in os.listdir(MDEV_DEVICES) if os.path.isdir(MDEV_DEVICES) else []:
        if os.path.isdir(os.path.join(MDEV_DEVICES, uuid, "hyv")):
            found.add(uuid)
    return found


def pci_address(bus, device):
    return f"0000:{bus:02x}:{device['slot']:02x}.{device['function']:x}"


def vm_mdevs(qmp_path):
    """qdev id -> (mdev uuid, guest PCI address) for every vfio-pci device backed by an mdev."""
    held = {}
    with Qmp(qmp_path) as qmp:
        def walk(bus_number, devices):
            for device in devices:
                qdev_id = device.get("qdev_id", "")
                if qdev_id:
                    try:
                        path = qmp.execute("qom-get", {"path": f"/machine/peripheral/{qdev_id}",
                                                       "property": "sysfsdev"})
                    except Exception:  # not a vfio-pci device: no sysfsdev property
                        path = None
                    if path and path.startswith(MDEV_DEVICES + "/"):
                        held[qdev_id] = (os.path.basename(path), pci_address(bus_number, device))
                bridge = device.get("pci_bridge")
                if bridge and "devices" in bridge:
                    walk(bridge["bus"]["secondary"], bridge["devices"])
        for bus in qmp.execute("query-pci"):
            walk(bus["bus"], bus["devices"])
    return held


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--hyvctl", required=True)
    parser.add_argument("--socket", required=True)
    parser.add_argument("--vm", required=True)
    parser.add_argument("--qmp", required=True)
    args = parser.parse_args()

    listing = subprocess.run([args.hyvctl, "--socket", args.socket, "--json", "list"],
                             capture_output=True, text=True)
    if listing.returncode != 0:
        sys.exit(f"FAIL: hyvctl list exited {listing.returncode}: {listing.stderr.strip()}")
    rows = json.loads(listing.stdout)
    mdevs = hyv_mdevs()
    held = vm_mdevs(args.qmp)
    problems = []
    owned = set()
    for row in rows:
        who = f"{row['vm']}/{row['guid']} ({row['state']}, mdev {row['mdev']})"
        owned.add(row["mdev"])
        if row["state"] != "attached":
            problems.append(f"{who}: not in a resting state")
        if row["mdev"] not in mdevs:
            problems.append(f"{who}: its mdev is missing from sysfs")
        if row["vm"] == args.vm:
            in_vm = held.get(row["qdev_id"])
            if in_vm is None or in_vm[0] != row["mdev"]:
                problems.append(f"{who}: QEMU does not hold it as {row['qdev_id']} (holds {held})")
            elif in_vm[1] != row["guest_pci_address"]:
                problems.append(f"{who}: row says guest address {row['guest_pci_address']}, QEMU {in_vm[1]}")
    for uuid in sorted(mdevs - owned):
        problems.append(f"orphan mdev {uuid} (no assignment row)")
    for qdev_id, (uuid, _) in sorted(held.items()):
        if uuid not in owned:
            problems.append(f"VM {args.vm} holds {qdev_id} (mdev {uuid}) without a row")
    if problems:
        for problem in problems:
            print(f"INCONSISTENT: {problem}", file=sys.stderr)
        sys.exit(1)
    print(f"consistent: {len(rows)} assignment(s), {len(mdevs)} hyv mdev(s), {len(held)} in {args.vm}")


if __name__ == "__main__":
    main()
