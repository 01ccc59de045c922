#!/usr/bin/env python3
"""Checks, inside the test host, that hyvd's assignments match reality: no hyv mdev exists without a
row, and for every VM checked:
  raw QEMU (--qmp): every row is `attached`, its mdev exists in sysfs and the VM holds it under the
    row's qdev id at the row's guest PCI address; the VM holds no mdev without a row.
  libvirt (--libvirt, every defined domain): a running domain's rows are `attached` and its live XML
    has the row's hostdev (alias ua-<qdev id>, the row's guest PCI address) and hyv metadata; a
    stopped domain's rows are persistent and `inactive`, and their mdev is gone (the hook removed it);
    a persistent row is in the persistent definition (hostdev and metadata), a transient one is not;
    no definition, live or persistent, names an mdev without a row.
Prints what differs and exits 1; prints a one-line summary and exits 0.
With --reconcile-idempotent it then runs a reconcile, which must find nothing to do.
usage: PYTHONPATH=tests/support daemon_consistency.py --hyvctl PATH --socket PATH
       (--vm NAME --qmp PATH | --libvirt) [--reconcile-idempotent]"""

import argparse
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET

from qmp_client import Qmp  # tests/support, on PYTHONPATH

MDEV_DEVICES = "/sys/bus/mdev/devices"
HYV_NAMESPACE = "https://hyv.dev/xmlns/libvirt/1"
USER_ALIAS_PREFIX = "ua-"


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


def who(row):
    return f"{row['vm']}/{row['guid']} ({row['state']}, mdev {row['mdev']})"


def check_held(row, held, hypervisor, problems):
    """The VM holds the row's mdev under the row's qdev id, at the row's guest PCI address.
    `held`: qdev id -> (mdev uuid, guest PCI address) as `hypervisor` (QEMU, libvirt) reports it."""
    in_vm = held.get(row["qdev_id"])
    if in_vm is None or in_vm[0] != row["mdev"]:
        problems.append(f"{who(row)}: {hypervisor} does not hold it as {row['qdev_id']} (holds {held})")
    elif in_vm[1] != row["guest_pci_address"]:
        problems.append(f"{who(row)}: row says guest address {row['guest_pci_address']}, {hypervisor} {in_vm[1]}")


def libvirt_definition(domain, live):
    """(qdev id -> (mdev uuid, guest PCI address) of mdev hostdevs, mdev uuids in the hyv metadata)."""
    args = ["virsh", "dumpxml"] + ([] if live else ["--inactive"]) + [domain]
    root = ET.fromstring(subprocess.run(args, capture_output=True, text=True, check=True).stdout)
    hostdevs = {}
    for hostdev in root.iter("hostdev"):
        source = hostdev.find("source/address")
        if hostdev.get("type") != "mdev" or source is None:
            continue
        alias = hostdev.find("alias")
        name = alias.get("name", "") if alias is not None else ""
        qdev_id = name[len(USER_ALIAS_PREFIX):] if name.startswith(USER_ALIAS_PREFIX) else name
        pci = hostdev.find("address[@type='pci']")
        address = (f"{int(pci.get('domain'), 16):04x}:{int(pci.get('bus'), 16):02x}:"
                   f"{int(pci.get('slot'), 16):02x}.{int(pci.get('function'), 16):x}") if pci is not None else ""
        hostdevs[qdev_id or source.get("uuid")] = (source.get("uuid"), address)
    declared = {device.get("mdev") for device in root.iter(f"{{{HYV_NAMESPACE}}}device")}
    return hostdevs, declared


def check_libvirt(rows, mdevs, problems):
    names = subprocess.run(["virsh", "list", "--all", "--name"], capture_output=True, text=True, check=True).stdout
    domains = [name for name in names.split() if name]
    summary = []
    for domain in domains:
        state = subprocess.run(["virsh", "domstate", domain], capture_output=True, text=True).stdout.strip()
        running = state == "running"
        persistent_hostdevs, persistent_declared = libvirt_definition(domain, live=False)
        persistent_mdevs = {uuid for uuid, _ in persistent_hostdevs.values()}
        live_hostdevs, live_declared = libvirt_definition(domain, live=True) if running else ({}, set())
        mine = [row for row in rows if row["vm"] == domain]
        for row in mine:
            if running:
                if row["state"] != "attached":
                    problems.append(f"{who(row)}: not attached although the domain runs")
                if row["mdev"] not in mdevs:
                    problems.append(f"{who(row)}: its mdev is missing from sysfs")
                check_held(row, live_hostdevs, "libvirt's live XML", problems)
                if row["mdev"] not in live_declared:
                    problems.append(f"{who(row)}: not in the live hyv metadata")
            else:
                if row["state"] != "inactive" or not row["persistent"]:
                    problems.append(f"{who(row)}: the domain is {state}, the row should be persistent and inactive")
                if row["mdev"] in mdevs:
                    problems.append(f"{who(row)}: its mdev exists although the domain is {state}")
            in_definition = row["mdev"] in persistent_mdevs and row["mdev"] in persistent_declared
            if row["persistent"] and not in_definition:
                problems.append(f"{who(row)}: persistent, but not in the persistent definition (hostdev and metadata)")
            if not row["persistent"] and (row["mdev"] in persistent_mdevs or row["mdev"] in persistent_declared):
                problems.append(f"{who(row)}: transient, but in the persistent definition")
        owned = {row["mdev"] for row in mine}
        named = {uuid for uuid, _ in live_hostdevs.values()} | live_declared | persistent_declared
        # A hand-written <hyv:device> without an mdev (None) is adopted by reconcile, not an orphan.
        for uuid in sorted(u for u in named - owned if u):
            problems.append(f"domain {domain} names mdev {uuid} without a row")
        summary.append(f"{domain} {state}: {len(mine)}")
    return "; ".join(summary)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--hyvctl", required=True)
    parser.add_argument("--socket", required=True)
    parser.add_argument("--vm")
    parser.add_argument("--qmp")
    parser.add_argument("--libvirt", action="store_true", help="check every libvirt domain instead of one QEMU")
    parser.add_argument("--reconcile-idempotent", action="store_true",
                        help="then run a reconcile, which must find nothing to do")
    args = parser.parse_args()
    if args.libvirt == bool(args.vm and args.qmp):
        parser.error("give either --vm NAME --qmp PATH or --libvirt")

    listing = subprocess.run([args.hyvctl, "--socket", args.socket, "--json", "list"],
                             capture_output=True, text=True)
    if listing.returncode != 0:
        sys.exit(f"FAIL: hyvctl list exited {listing.returncode}: {listing.stderr.strip()}")
    rows = json.loads(listing.stdout)
    mdevs = hyv_mdevs()
    problems = []
    for uuid in sorted(mdevs - {row["mdev"] for row in rows}):
        problems.append(f"orphan mdev {uuid} (no assignment row)")
    if args.libvirt:
        where = check_libvirt(rows, mdevs, problems)
    else:
        where = check_qemu(rows, mdevs, args.vm, args.qmp, problems)
    if args.reconcile_idempotent and not problems:
        check_reconcile_idle(args.hyvctl, args.socket, problems)
    if problems:
        for problem in problems:
            print(f"INCONSISTENT: {problem}", file=sys.stderr)
        sys.exit(1)
    print(f"consistent: {len(rows)} assignment(s), {len(mdevs)} hyv mdev(s); {where}")


def check_reconcile_idle(hyvctl, socket, problems):
    """A reconcile of a consistent state acts on nothing (the daemon's reconcile is idempotent)."""
    run = subprocess.run([hyvctl, "--socket", socket, "--json", "reconcile"], capture_output=True, text=True)
    if run.returncode != 0:
        problems.append(f"hyvctl reconcile exited {run.returncode}: {run.stderr.strip()}")
        return
    report = json.loads(run.stdout)
    if report["actions"] or report["orphan_mdevs_removed"]:
        problems.append(f"a second reconcile still acted: {run.stdout.strip()}")


def check_qemu(rows, mdevs, vm, qmp_path, problems):
    held = vm_mdevs(qmp_path)
    owned = set()
    for row in rows:
        owned.add(row["mdev"])
        if row["state"] != "attached":
            problems.append(f"{who(row)}: not in a resting state")
        if row["mdev"] not in mdevs:
            problems.append(f"{who(row)}: its mdev is missing from sysfs")
        if row["vm"] == vm:
            check_held(row, held, "QEMU", problems)
    for qdev_id, (uuid, _) in sorted(held.items()):
        if uuid not in owned:
            problems.append(f"VM {vm} holds {qdev_id} (mdev {uuid}) without a row")
    return f"{len(held)} in {vm}"


if __name__ == "__main__":
    main()
