// reconcile(): compare what the store says with what the host and the VMs show, and
// finish or roll back whatever a crash interrupted. Rules (docs/design.md, "core"):
//   attaching_intent                       -> roll back (the operator's attach failed)
//   mdev_created / hotplugged, in the VM   -> finish to attached
//   mdev_created / hotplugged, not in VM   -> persistent: inactive; else roll back
//   attached, VM stopped                   -> persistent: inactive; else release the mdev
//   attached, running but device gone      -> persistent: re-plug; else release the mdev
//   inactive, VM running                   -> re-plug (mdev re-created if missing)
//   detaching / detached_mdev_present / failed -> finish the detach (device_del retried briefly)
//   mdev of hyv with no assignment row     -> orphan: device_del if a VM holds it, then remove
#include "hyvd/core/service_impl.hpp"

#include "hyv/error_codes.hpp"

#include <spdlog/spdlog.h>

#include <set>

namespace hyv::core {

using S = AssignmentState;

namespace {

// What one VM looks like right now.
struct VmReality {
    VmRecord vm;
    Hypervisor* hypervisor = nullptr;
    bool running = false;
    std::vector<PresentDevice> present;
};

}  // namespace

Result<ReconcileReport> Service::Impl::reconcile()
{
    Journal journal(*ports.store, *clock, new_op_id());
    ReconcileReport report;
    report.op_id = journal.op_id();

    adopt_declared(journal, report);
    auto vms = ports.store->vms();
    if (!vms) {
        return vms.error();
    }
    // Looks at one VM now; on failure the VM is reported and left alone.
    auto inspect = [&](const VmRecord& vm) -> std::optional<VmReality> {
        auto hypervisor = hypervisor_for(vm);
        const auto held = hypervisor ? (*hypervisor)->hold(vm) : nullptr;
        auto running = hypervisor ? (*hypervisor)->is_running(vm) : Result<bool>(hypervisor.error());
        if (!running) {
            report.problems.push_back("VM " + vm.name.str() + ": cannot tell whether it runs (" +
                                      running.error().message + "); its assignments were left as they are");
            return std::nullopt;
        }
        VmReality reality{vm, *hypervisor, *running, {}};
        if (reality.running) {
            auto present = reality.hypervisor->list_hyv_devices(vm);
            if (!present) {
                report.problems.push_back("VM " + vm.name.str() + ": cannot list its devices (" +
                                          present.error().message + "); its assignments were left as they are");
                return std::nullopt;
            }
            reality.present = std::move(*present);
        }
        return reality;
    };
    std::map<std::string, VmReality> realities;
    for (const auto& vm : *vms) {
        if (auto reality = inspect(vm)) {
            (void)ports.store->set_vm_observed_state(vm.name, reality->running, clock->now());
            realities.emplace(vm.name.str(), std::move(*reality));
        }
    }

    auto assignments = ports.store->assignments();
    if (!assignments) {
        return assignments.error();
    }
    for (Assignment a : *assignments) {
        auto it = realities.find(a.vm.str());
        if (it == realities.end()) {
            continue;  // already reported as a problem
        }
        auto pair_lock = pair_locks.lock(a.vm, a.guid);
        // Re-read row and VM under the lock: an attach or detach may have run while we waited,
        // and acting on the earlier picture could take out a device that was just attached.
        auto fresh = ports.store->assignment(a.vm, a.guid);
        if (!fresh || !*fresh) {
            continue;
        }
        a = **fresh;
        auto now = inspect(it->second.vm);
        if (!now) {
            realities.erase(it);
            continue;
        }
        VmReality& reality = it->second = std::move(*now);
        const AssignmentState from = a.state;
        const bool held = reality.running && find_present(reality.present, a) != nullptr;
        std::string what;
        Result<void> outcome;

        switch (a.state) {
        case S::attaching_intent:
            what = "interrupted attach rolled back";
            outcome = teardown(journal, a, reality.vm, config.reconcile_detach_timeout);
            break;
        case S::mdev_created:
        case S::hotplugged:
            if (held) {
                // device_add happened; never add it twice, just record what the VM shows.
                what = "interrupted attach finished";
                const std::string address = find_present(reality.present, a)->guest_pci_address;
                auto with_address = [&](Assignment& row) {
                    if (!address.empty()) {
                        row.guest_pci_address = address;
                    }
                };
                outcome = a.state == S::mdev_created
                              ? journal.transition(a, S::hotplugged, "reconcile.hotplugged",
                                                   "found in the VM at " + address, with_address)
                              : Result<void>();
                if (outcome) {
                    outcome = journal.transition(a, S::attached, "reconcile.attached", "verified", with_address);
                }
                if (outcome) {
                    // The attach died before writing the VM's definition (libvirt), which plug() does last.
                    outcome = record(a, reality.vm);
                }
            } else if (a.persistent) {
                what = "interrupted attach of a persistent assignment parked";
                outcome = reality.running ? ensure_mdev(journal, a) : keep_for_stopped_vm(journal, a, reality.vm);
                if (outcome) {
                    outcome = journal.transition(a, S::inactive, "reconcile.inactive", "not in the VM; mdev kept");
                }
                if (outcome && reality.running) {
                    outcome = plug(journal, a, reality.vm);
                }
            } else {
                what = "interrupted attach rolled back";
                outcome = teardown(journal, a, reality.vm, config.reconcile_detach_timeout);
            }
            break;
        case S::attached:
            if (held) {
                // Consistent; make sure the VM's definition says so too (a crash may have come
                // between the hot-add and writing the definition).
                if (auto recorded = record(a, reality.vm); !recorded) {
                    report.problems.push_back("VM " + a.vm.str() + ", device " + a.guid.to_string() +
                                              ": cannot record it in the VM's definition: " +
                                              recorded.error().message);
                }
                continue;
            }
            if (a.persistent && !reality.running) {
                what = "VM stopped; persistent assignment parked";
                outcome = keep_for_stopped_vm(journal, a, reality.vm);
                if (outcome) {
                    outcome = journal.transition(a, S::inactive, "reconcile.inactive", "VM not running; mdev kept");
                }
            } else if (a.persistent) {
                what = "device missing from the running VM; re-plugged";
                outcome = ensure_mdev(journal, a);
                if (outcome) {
                    outcome = plug(journal, a, reality.vm);
                }
            } else {
                what = reality.running ? "device removed from the VM behind hyvd's back; released"
                                       : "VM stopped; assignment released";
                outcome = teardown(journal, a, reality.vm, config.reconcile_detach_timeout);
            }
            break;
        case S::inactive:
            if (held) {
                what = "VM runs with the device already in it";
                outcome = journal.transition(a, S::attached, "reconcile.attached", "found in the VM");
            } else if (reality.running) {
                what = "VM running again; persistent assignment re-plugged";
                outcome = ensure_mdev(journal, a);
                if (outcome) {
                    outcome = plug(journal, a, reality.vm);
                }
            } else {
                outcome = keep_for_stopped_vm(journal, a, reality.vm);
                if (outcome) {
                    continue;
                }
                what = "mdev of a stopped VM's persistent assignment could not be kept";
            }
            break;
        case S::detaching:
        case S::detached_mdev_present:
        case S::failed:
            what = "interrupted detach finished";
            outcome = teardown(journal, a, reality.vm, config.reconcile_detach_timeout);
            break;
        case S::removed:
            continue;
        }
        if (!outcome) {
            report.problems.push_back("VM " + a.vm.str() + ", device " + a.guid.to_string() + ": " + what +
                                      " did not complete: " + outcome.error().message);
        }
        // A teardown that removed the row leaves a.state == removed.
        report.actions.push_back(ReconcileAction{a.vm, a.guid, a.mdev, from, a.state, what});
        spdlog::info("[{}] reconcile vm={} guid={} mdev={}: {} ({} -> {})", journal.op_id(), a.vm.str(),
                     a.guid.to_string(), a.mdev.to_string(), what, to_string(from), to_string(a.state));
    }

    // Orphans: hyv mdevs that no assignment row owns (left by a crash of an older hyvd or by hand).
    auto instances = ports.mdev->list();
    auto remaining = ports.store->assignments();
    if (!instances || !remaining) {
        report.problems.push_back("cannot look for orphan mdevs: " +
                                  (!instances ? instances.error().message : remaining.error().message));
        return report;
    }
    if (realities.size() != vms->size()) {
        // An mdev held by a VM we could not inspect must not be removed: removal would block
        // until that QEMU lets go of it.
        report.problems.push_back("orphan mdevs not checked because some VMs could not be inspected");
        return report;
    }
    for (auto& [name, reality] : realities) {
        auto now = inspect(reality.vm);
        if (!now) {
            report.problems.push_back("orphan mdevs not checked because VM " + name + " could not be inspected");
            return report;
        }
        reality = std::move(*now);
    }
    std::set<MdevUuid> owned;
    for (const auto& a : *remaining) {
        owned.insert(a.mdev);
    }
    for (const auto& instance : *instances) {
        if (owned.count(instance.uuid)) {
            continue;
        }
        const std::string uuid = instance.uuid.to_string();
        bool still_held = false;
        for (auto& [name, reality] : realities) {
            for (const auto& device : reality.present) {
                if (device.mdev != instance.uuid) {
                    continue;
                }
                (void)journal.note("reconcile.orphan-hot-remove", "device_del " + device.qdev_id, name, {}, uuid);
                auto removed = reality.hypervisor->hot_remove(reality.vm, device.qdev_id, config.reconcile_detach_timeout);
                if (!removed) {
                    still_held = true;
                    report.problems.push_back("orphan mdev " + uuid + " is held by VM " + name + " (" +
                                              device.qdev_id + "): " + removed.error().message +
                                              "; remove it from the VM, then run reconcile again");
                }
            }
        }
        if (still_held) {
            continue;
        }
        (void)journal.note("reconcile.orphan-remove", "removing mdev no assignment owns", {}, {}, uuid);
        if (auto removed = ports.mdev->remove(instance.uuid); !removed) {
            if (removed.error().code != errc::mdev_absent) {  // a detach finished it meanwhile
                report.problems.push_back("cannot remove orphan mdev " + uuid + ": " + removed.error().message);
            }
            continue;
        }
        report.orphan_mdevs_removed.push_back(instance.uuid);
    }
    (void)journal.note("reconcile.done", std::to_string(report.actions.size()) + " assignment(s) fixed, " +
                                             std::to_string(report.orphan_mdevs_removed.size()) +
                                             " orphan mdev(s) removed, " + std::to_string(report.problems.size()) +
                                             " problem(s)");
    return report;
}

}  // namespace hyv::core
