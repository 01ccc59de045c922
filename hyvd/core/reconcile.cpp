// reconcile(): compare what the store says with what the host and the VMs show, and
// finish or roll back whatever a crash interrupted. Rules (docs/design.md, "core"):
//   attaching_intent                       -> roll back (the operator's attach failed)
//   mdev_created / hotplugged, in the VM   -> finish to attached
//   mdev_created / hotplugged, not in VM   -> persistent: inactive; else roll back
//   attached, VM stopped                   -> persistent: inactive; else release the mdev
//   attached, running but device gone      -> persistent: re-plug; else release the mdev
//   inactive, VM running                   -> re-plug (mdev re-created if missing)
//   detaching / detached_mdev_present / failed -> finish the detach (device_del retried briefly)
//   mdev hyvd made, no assignment row      -> orphan: device_del if a VM holds it, then remove
//   mdev hyvd did not make                 -> foreign (mdevctl, an orchestrator): left alone
//   live row whose identity link is gone  -> link re-made (same name, MAC, addresses)
//   link hyvd made, no assignment row      -> orphan: removed; a link hyvd did not make: left alone
// With ServiceConfig::manage_mdevs false no mdev is created or removed and no orphan is swept.
#include "hyvd/core/service_impl.hpp"

#include "hyv/error_codes.hpp"

#include <spdlog/spdlog.h>

#include <set>

namespace hyv::core {

using S = AssignmentState;

// Named, not anonymous: Service::Impl::Reconciler holds these, and a class with external linkage
// must not hold a type with internal linkage (-Wsubobject-linkage, seen in a unity build).
namespace reconcile_detail {

// What one VM looks like right now.
struct VmReality {
    VmRecord vm;
    Hypervisor* hypervisor = nullptr;
    bool running = false;
    std::vector<PresentDevice> present;
};

// What reconciling one assignment did, for the report and the log.
struct Fix {
    std::string what;
    Result<void> outcome;
};

}  // namespace reconcile_detail
using reconcile_detail::Fix;
using reconcile_detail::VmReality;

// One run of reconcile(): its steps share the journal, the report and the latest picture of each VM.
// Per assignment state there is one step, chosen in reconcile_assignment; a step that finds nothing
// to do returns nullopt, and nothing is reported for that assignment.
class Service::Impl::Reconciler {
public:
    Reconciler(Service::Impl& service, Journal& journal, ReconcileReport& report)
        : service_(service), journal_(journal), report_(report)
    {
    }

    // Looks at every VM; one that cannot be inspected is reported and its assignments are left alone.
    void inspect_vms(const std::vector<VmRecord>& vms);
    void reconcile_assignment(Assignment a);
    // Removes mdevs hyvd made that no assignment row owns any more; reports the ones hyvd did not
    // make, and forgets having made those that are gone. False when it could not look (reported).
    bool remove_orphans(std::size_t registered_vms);

private:
    std::optional<VmReality> inspect(const VmRecord& vm);
    Fix roll_back(Assignment& a, const VmReality& reality, std::string what);
    Fix finish_interrupted_attach(Assignment& a, const VmReality& reality, const PresentDevice* present);
    std::optional<Fix> recheck_attached(Assignment& a, const VmReality& reality, const PresentDevice* present);
    std::optional<Fix> replug_inactive(Assignment& a, const VmReality& reality, const PresentDevice* present);
    // A live assignment whose identity link has gone (deleted by hand, parent netdev re-created):
    // made again with the same name, MAC and addresses, so the GIDs the mdev was told to use return.
    void restore_link(const Assignment& a);
    // ensure_mdev, then plug: a persistent assignment back into its running VM.
    Result<void> replug(Assignment& a, const VmRecord& vm);
    void remove_orphan(const MdevInstance& instance);

    Service::Impl& service_;
    Journal& journal_;
    ReconcileReport& report_;
    std::map<std::string, VmReality> realities_;  // by VM name; only VMs that could be inspected
};

std::optional<VmReality> Service::Impl::Reconciler::inspect(const VmRecord& vm)
{
    auto hypervisor = service_.hypervisor_for(vm);
    const auto held = hypervisor ? (*hypervisor)->hold(vm) : nullptr;
    auto running = hypervisor ? (*hypervisor)->is_running(vm) : Result<bool>(hypervisor.error());
    if (!running) {
        report_.problems.push_back("VM " + vm.name.str() + ": cannot tell whether it runs (" + running.error().message +
                                   "); its assignments were left as they are");
        return std::nullopt;
    }
    VmReality reality{vm, *hypervisor, *running, {}};
    if (reality.running) {
        auto present = reality.hypervisor->list_hyv_devices(vm);
        if (!present) {
            report_.problems.push_back("VM " + vm.name.str() + ": cannot list its devices (" + present.error().message +
                                       "); its assignments were left as they are");
            return std::nullopt;
        }
        reality.present = std::move(*present);
    }
    return reality;
}

void Service::Impl::Reconciler::inspect_vms(const std::vector<VmRecord>& vms)
{
    for (const auto& vm : vms) {
        if (auto reality = inspect(vm)) {
            (void)service_.ports.store->set_vm_observed_state(vm.name, reality->running, service_.clock->now());
            realities_.emplace(vm.name.str(), std::move(*reality));
        }
    }
}

void Service::Impl::Reconciler::reconcile_assignment(Assignment a)
{
    auto it = realities_.find(a.vm.str());
    if (it == realities_.end()) {
        return;  // already reported as a problem
    }
    auto pair_lock = service_.pair_locks.lock(a.vm, a.guid);
    // Re-read row and VM under the lock: an attach or detach may have run while we waited,
    // and acting on the earlier picture could take out a device that was just attached.
    auto fresh = service_.ports.store->assignment(a.vm, a.guid);
    if (!fresh || !*fresh) {
        return;
    }
    a = **fresh;
    const LogScope log_scope({journal_.op_id(), a.vm.str(), a.guid.to_string(), a.mdev.to_string()});
    auto now = inspect(it->second.vm);
    if (!now) {
        realities_.erase(it);
        return;
    }
    const VmReality& reality = it->second = std::move(*now);
    const PresentDevice* present = reality.running ? find_present(reality.present, a) : nullptr;
    const AssignmentState from = a.state;
    if (a.state == S::attached || a.state == S::inactive || a.state == S::mdev_created || a.state == S::hotplugged) {
        restore_link(a);
    }

    std::optional<Fix> fix;
    switch (a.state) {
    case S::attaching_intent: fix = roll_back(a, reality, "interrupted attach rolled back"); break;
    case S::mdev_created:
    case S::hotplugged: fix = finish_interrupted_attach(a, reality, present); break;
    case S::attached: fix = recheck_attached(a, reality, present); break;
    case S::inactive: fix = replug_inactive(a, reality, present); break;
    case S::detaching:
    case S::detached_mdev_present:
    case S::failed: fix = roll_back(a, reality, "interrupted detach finished"); break;
    case S::removed: break;
    }
    if (!fix) {
        return;
    }
    if (!fix->outcome) {
        report_.problems.push_back("VM " + a.vm.str() + ", device " + a.guid.to_string() + ": " + fix->what +
                                   " did not complete: " + fix->outcome.error().message);
    }
    // A teardown that removed the row leaves a.state == removed.
    report_.actions.push_back(ReconcileAction{a.vm, a.guid, a.mdev, from, a.state, fix->what});
    spdlog::info("[{}] reconcile vm={} guid={} mdev={}: {} ({} -> {})", journal_.op_id(), a.vm.str(),
                 a.guid.to_string(), a.mdev.to_string(), fix->what, to_string(from), to_string(a.state));
}

void Service::Impl::Reconciler::restore_link(const Assignment& a)
{
    if (a.link.empty() || service_.ports.identity == nullptr) {
        return;
    }
    auto exists = service_.ports.identity->exists(a.link);
    if (exists && *exists) {
        return;
    }
    auto device = exists ? service_.find_device(a.guid) : Result<std::optional<HostDevice>>(exists.error());
    Result<void> restored =
        !device    ? Result<void>(device.error())
        : !*device ? make_error(errc::unknown_guid, "device is not on this host now")
                   : service_.ensure_identity(journal_, a, (*device)->netdev, "reconcile.identity-recreated");
    if (!restored) {
        report_.problems.push_back("VM " + a.vm.str() + ", device " + a.guid.to_string() + ": identity link " + a.link +
                                   " is missing and could not be made again: " + restored.error().message);
        return;
    }
    report_.actions.push_back(
        ReconcileAction{a.vm, a.guid, a.mdev, a.state, a.state, "identity link " + a.link + " made again"});
}

Fix Service::Impl::Reconciler::roll_back(Assignment& a, const VmReality& reality, std::string what)
{
    return Fix{std::move(what), service_.teardown(journal_, a, reality.vm, service_.config.reconcile_detach_timeout)};
}

Result<void> Service::Impl::Reconciler::replug(Assignment& a, const VmRecord& vm)
{
    auto ensured = service_.ensure_mdev(journal_, a);
    if (!ensured) {
        return ensured;
    }
    return service_.plug(journal_, a, vm);
}

// mdev_created / hotplugged: the attach died between creating the mdev and recording `attached`.
Fix Service::Impl::Reconciler::finish_interrupted_attach(Assignment& a, const VmReality& reality,
                                                         const PresentDevice* present)
{
    if (present) {
        // device_add happened; never add it twice, just record what the VM shows.
        const std::string address = present->guest_pci_address;
        auto with_address = [&](Assignment& row) {
            if (!address.empty()) {
                row.guest_pci_address = address;
            }
        };
        Result<void> outcome = a.state == S::mdev_created
                                   ? journal_.transition(a, S::hotplugged, "reconcile.hotplugged",
                                                         "found in the VM at " + address, with_address)
                                   : Result<void>();
        if (outcome) {
            outcome = journal_.transition(a, S::attached, "reconcile.attached", "verified", with_address);
        }
        if (outcome) {
            // The attach died before writing the VM's definition (libvirt), which plug() does last.
            outcome = service_.record(a, reality.vm);
        }
        return Fix{"interrupted attach finished", std::move(outcome)};
    }
    if (!a.persistent) {
        return roll_back(a, reality, "interrupted attach rolled back");
    }
    Result<void> outcome =
        reality.running ? service_.ensure_mdev(journal_, a) : service_.keep_for_stopped_vm(journal_, a, reality.vm);
    if (outcome) {
        outcome = journal_.transition(a, S::inactive, "reconcile.inactive", "not in the VM; mdev kept");
    }
    if (outcome && reality.running) {
        outcome = service_.plug(journal_, a, reality.vm);
    }
    return Fix{"interrupted attach of a persistent assignment parked", std::move(outcome)};
}

// attached: still in the VM, or the VM stopped, or the device left the running VM.
std::optional<Fix> Service::Impl::Reconciler::recheck_attached(Assignment& a, const VmReality& reality,
                                                               const PresentDevice* present)
{
    if (present) {
        // Consistent; make sure the VM's definition says so too (a crash may have come
        // between the hot-add and writing the definition).
        if (auto recorded = service_.record(a, reality.vm); !recorded) {
            report_.problems.push_back("VM " + a.vm.str() + ", device " + a.guid.to_string() +
                                       ": cannot record it in the VM's definition: " + recorded.error().message);
        }
        return std::nullopt;
    }
    if (!a.persistent) {
        return roll_back(a, reality,
                         reality.running ? "device removed from the VM behind hyvd's back; released"
                                         : "VM stopped; assignment released");
    }
    if (reality.running) {
        return Fix{"device missing from the running VM; re-plugged", replug(a, reality.vm)};
    }
    Result<void> outcome = service_.keep_for_stopped_vm(journal_, a, reality.vm);
    if (outcome) {
        outcome = journal_.transition(a, S::inactive, "reconcile.inactive", "VM not running; mdev kept");
    }
    return Fix{"VM stopped; persistent assignment parked", std::move(outcome)};
}

// inactive: a persistent assignment whose VM was stopped; plug it in again once the VM runs.
std::optional<Fix> Service::Impl::Reconciler::replug_inactive(Assignment& a, const VmReality& reality,
                                                              const PresentDevice* present)
{
    if (present) {
        return Fix{"VM runs with the device already in it",
                   journal_.transition(a, S::attached, "reconcile.attached", "found in the VM")};
    }
    if (reality.running) {
        return Fix{"VM running again; persistent assignment re-plugged", replug(a, reality.vm)};
    }
    auto kept = service_.keep_for_stopped_vm(journal_, a, reality.vm);
    if (kept) {
        return std::nullopt;
    }
    return Fix{"mdev of a stopped VM's persistent assignment could not be kept", std::move(kept)};
}

bool Service::Impl::Reconciler::remove_orphans(std::size_t registered_vms)
{
    if (!service_.config.manage_mdevs) {
        return true;  // the orchestrator's mdevs and ours alike stay where they are
    }
    // In this order: an attach inserts its row and ownership together before creating the mdev, so
    // whatever `owned` lists that `instances` lacks was not created yet when `instances` was read.
    auto instances = service_.ports.mdev->list();
    auto owned_list = service_.ports.store->owned_mdevs();
    auto remaining = service_.ports.store->assignments();
    if (!instances || !owned_list || !remaining) {
        report_.problems.push_back("cannot look for orphan mdevs: " + (!instances    ? instances.error().message
                                                                       : !owned_list ? owned_list.error().message
                                                                                     : remaining.error().message));
        return false;
    }
    if (realities_.size() != registered_vms) {
        // An mdev held by a VM we could not inspect must not be removed: removal would block
        // until that QEMU lets go of it.
        report_.problems.push_back("orphan mdevs not checked because some VMs could not be inspected");
        return false;
    }
    for (auto& [name, reality] : realities_) {
        auto now = inspect(reality.vm);
        if (!now) {
            report_.problems.push_back("orphan mdevs not checked because VM " + name + " could not be inspected");
            return false;
        }
        reality = std::move(*now);
    }
    std::set<MdevUuid> in_rows;
    for (const auto& a : *remaining) {
        in_rows.insert(a.mdev);
    }
    const std::set<MdevUuid> owned(owned_list->begin(), owned_list->end());
    std::set<MdevUuid> existing;
    for (const auto& instance : *instances) {
        existing.insert(instance.uuid);
        if (in_rows.count(instance.uuid)) {
            continue;
        }
        if (owned.count(instance.uuid)) {
            remove_orphan(instance);
        } else {
            spdlog::debug("[{}] mdev {} was not made by hyvd; left alone", journal_.op_id(), instance.uuid.to_string());
            report_.foreign_mdevs.push_back(instance.uuid);
        }
    }
    for (const auto& uuid : owned) {
        if (!existing.count(uuid) && !in_rows.count(uuid)) {
            (void)service_.ports.store->disown_mdev(uuid);  // made by hyvd, gone since: nothing left to track
        }
    }
    return true;
}

// device_del from every VM that holds it, then removal of the mdev.
void Service::Impl::Reconciler::remove_orphan(const MdevInstance& instance)
{
    const std::string uuid = instance.uuid.to_string();
    const LogScope log_scope({journal_.op_id(), {}, {}, uuid});
    bool still_held = false;
    for (auto& [name, reality] : realities_) {
        for (const auto& device : reality.present) {
            if (device.mdev != instance.uuid) {
                continue;
            }
            (void)journal_.note("reconcile.orphan-hot-remove", "device_del " + device.qdev_id, name, {}, uuid);
            auto removed =
                reality.hypervisor->hot_remove(reality.vm, device.qdev_id, service_.config.reconcile_detach_timeout);
            if (!removed) {
                still_held = true;
                report_.problems.push_back("orphan mdev " + uuid + " is held by VM " + name + " (" + device.qdev_id +
                                           "): " + removed.error().message +
                                           "; remove it from the VM, then run reconcile again");
            }
        }
    }
    if (still_held) {
        return;
    }
    (void)journal_.note("reconcile.orphan-remove", "removing mdev hyvd made that no assignment owns", {}, {}, uuid);
    auto removed = service_.ports.mdev->remove(instance.uuid);
    if (!removed && removed.error().code != errc::mdev_absent) {  // absent: a detach finished it meanwhile
        report_.problems.push_back("cannot remove orphan mdev " + uuid + ": " + removed.error().message);
        return;
    }
    (void)service_.ports.store->disown_mdev(instance.uuid);
    if (removed) {
        report_.orphan_mdevs_removed.push_back(instance.uuid);
    }
}

Result<ReconcileReport> Service::Impl::reconcile()
{
    Journal journal(*ports.store, *clock, new_op_id());
    const LogScope log_scope({journal.op_id(), {}, {}, {}});
    ReconcileReport report;
    report.op_id = journal.op_id();

    adopt_declared(journal, report);
    auto vms = ports.store->vms();
    if (!vms) {
        return vms.error();
    }
    Reconciler reconciler(*this, journal, report);
    reconciler.inspect_vms(*vms);
    auto assignments = ports.store->assignments();
    if (!assignments) {
        return assignments.error();
    }
    for (const Assignment& a : *assignments) {
        reconciler.reconcile_assignment(a);
    }
    remove_orphan_links(journal, report);
    if (!reconciler.remove_orphans(vms->size())) {
        return report;
    }
    (void)journal.note("reconcile.done",
                       std::to_string(report.actions.size()) + " assignment(s) fixed, " +
                           std::to_string(report.orphan_mdevs_removed.size()) + " orphan mdev(s) removed, " +
                           std::to_string(report.orphan_links_removed.size()) + " orphan link(s) removed, " +
                           std::to_string(report.problems.size()) + " problem(s)");
    return report;
}

}  // namespace hyv::core
