// Internals of hyv::core::Service shared by service.cpp (use cases), teardown.cpp
// (taking a device out and releasing its mdev) and reconcile.cpp.
#pragma once

#include "hyvd/core/journal.hpp"
#include "hyvd/core/operation_stats.hpp"
#include "hyvd/core/service.hpp"
#include "hyv/log_fields.hpp"

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace hyv::core {

// One mutex per (VM, GUID): operations on one pair serialize, others run in parallel.
class PairLocks {
public:
    std::unique_lock<std::mutex> lock(const VmId& vm, const Guid& guid);

private:
    std::mutex map_mutex_;
    std::map<std::pair<std::string, std::uint64_t>, std::unique_ptr<std::mutex>> locks_;
};

// What a running VM holds of one assignment, looked up from Hypervisor::list_hyv_devices.
const PresentDevice* find_present(const std::vector<PresentDevice>& present, const Assignment& a);

class Service::Impl {
public:
    Impl(Ports ports, ServiceConfig config);

    Result<Hypervisor*> hypervisor_for(const VmRecord& vm);
    Result<VmRecord> load_vm(const VmId& vm);
    // libvirt domains need no `hyvctl vm add`: a running domain is registered on first attach.
    Result<VmRecord> register_libvirt_domain(Journal& journal, const VmId& vm);

    Result<OperationResult> attach(const VmId& vm, const Guid& guid, const AttachOptions& options);
    Result<OperationResult> detach(const VmId& vm, const Guid& guid, const DetachOptions& options);
    Result<ReconcileReport> reconcile();
    class Reconciler;  // the steps of one reconcile() run (reconcile.cpp)
    // Runs attach or detach (`call`), counting it in operation_counters (service.cpp).
    template <typename Call>
    auto measured(const char* operation, Call call);

    // Drives `a` to `removed` from any state: device_del if a running VM holds it (waiting
    // `timeout`), then removes the mdev. Leaves it `detaching` on hot-remove timeout and
    // `failed` when the mdev cannot be removed; the returned error says which.
    Result<void> teardown(Journal& journal, Assignment& a, const VmRecord& vm, std::chrono::milliseconds timeout);
    // Removes the mdev of `a` (in detached_mdev_present) and deletes the row.
    Result<void> release_mdev(Journal& journal, Assignment& a);
    // Makes sure the mdev of `a` exists with its quota (re-plug of persistent assignments).
    Result<void> ensure_mdev(Journal& journal, const Assignment& a);
    // What a persistent assignment of a stopped VM keeps: its mdev (ensure_mdev), unless the VM's
    // definition carries the device (Hypervisor::defines_devices), whose start hook makes the mdev.
    Result<void> keep_for_stopped_vm(Journal& journal, const Assignment& a, const VmRecord& vm);
    // Hypervisor::record for VMs whose definition carries devices; nothing for the others.
    Result<void> record(const Assignment& a, const VmRecord& vm);
    // Registers VMs and persistent assignments that VM definitions declare and hyvd lacks
    // (libvirt: <hyv:device> written by hand); problems (or notes, see Hypervisor::unreachable) go to `report`.
    void adopt_declared(Journal& journal, ReconcileReport& report);
    // Whether the store has a VM of this kind (true when the store cannot answer).
    bool has_vm_of_kind(VmKind kind);
    // inactive/mdev_created -> hot-add -> hotplugged -> attached, for a running VM.
    Result<void> plug(Journal& journal, Assignment& a, const VmRecord& vm);

    // How find_device may answer: from the last inventory scan, or only after a new one.
    enum class Lookup { cached, rescan };
    // The host device with this GUID. A scan opens every RDMA device (8-30 ms warm, seconds cold),
    // so `cached` answers from the last scan and rescans only when the GUID is not in it; a stale
    // answer shows up as a failed mdev creation, after which attach looks again with `rescan`.
    Result<std::optional<HostDevice>> find_device(const Guid& guid, Lookup lookup = Lookup::cached);
    // Scans the inventory, records every device it finds and keeps the result for find_device.
    Result<std::vector<HostDevice>> scan_inventory();
    // identity.cpp: refuses addresses on a device without netdev and addresses another assignment holds.
    Result<void> check_identity(const NetworkIdentity& identity, const HostDevice& device, const Guid& guid);
    // Makes the identity link of `a` on `parent` unless it exists (nothing when unisolated).
    Result<void> ensure_identity(Journal& journal, const Assignment& a, const std::string& parent,
                                 std::string_view event_kind = "attach.identity-created");
    // Tells the mdev of `a` which GIDs it may use: its link's, or all when unisolated.
    Result<void> program_identity(const Assignment& a);
    // Removes the identity link of `a` if it exists.
    Result<void> release_link(Journal& journal, const Assignment& a);
    // Removes the links hyvd made that no row owns; links it did not make are left alone.
    void remove_orphan_links(Journal& journal, ReconcileReport& report);
    Quota resolve_quota(const Quota& requested) const;
    Result<void> check_quota(const Quota& quota) const;

    Ports ports;
    ServiceConfig config;
    SystemClock system_clock;
    Clock* clock;
    PairLocks pair_locks;
    std::mutex inventory_mutex;
    std::optional<std::vector<HostDevice>> last_scan;  // guarded by inventory_mutex
    OperationCounters operation_counters;
    std::function<void()> on_change;  // set before serving
};

}  // namespace hyv::core
