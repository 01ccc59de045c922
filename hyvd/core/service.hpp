// The use cases hyvd offers; the API socket server calls these and converts the plain
// result structs to JSON. Thread-safe: operations on one (VM, GUID) pair serialize,
// operations on different pairs run concurrently.
#pragma once

#include "hyvd/core/operation_stats.hpp"
#include "hyvd/core/ports.hpp"

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace hyv::core {

struct ServiceConfig {
    Quota default_quota{.max_qps = 1024, .max_cqs = 1024, .max_mrs = 4096, .max_pinned_bytes = 1ull << 30};
    Quota max_quota{.max_qps = 65536, .max_cqs = 65536, .max_mrs = 1u << 20, .max_pinned_bytes = 1ull << 40};
    std::chrono::milliseconds default_detach_timeout{10'000};
    // reconcile() re-issues device_del for rows left `detaching`; it waits this long, not more.
    std::chrono::milliseconds reconcile_detach_timeout{2'000};
    // false: an orchestrator (KubeVirt, Nova, mdevctl) owns the mdev lifecycle. hyvd then never
    // creates nor removes an mdev: attach is refused (mdevs-external), detach and reconcile take
    // devices out of VMs and forget rows but leave mdevs in place, and no orphan is swept.
    bool manage_mdevs = true;
};

// Everything the service talks to. The service does not own them.
struct Ports {
    Store* store = nullptr;
    MdevControl* mdev = nullptr;
    Inventory* inventory = nullptr;
    NetIdentity* identity = nullptr;            // host links of network identities
    std::map<VmKind, Hypervisor*> hypervisors;  // one per VM kind in use
    Clock* clock = nullptr;                     // nullptr: system clock
};

struct DeviceView {
    DeviceRecord record;
    bool present = false;           // found by the last inventory scan
    std::vector<VmId> assigned_to;  // VMs holding an assignment for this GUID
};

struct VmView {
    VmRecord vm;
    std::optional<bool> running;  // nullopt: hypervisor could not tell (error in `note`)
    std::size_t assignments = 0;
    std::string note;
};

struct VmAddRequest {
    std::string name;
    VmKind kind = VmKind::qemu;
    std::string qmp_socket;  // required for kind qemu
    std::string uuid;        // optional
};

struct AttachOptions {
    // Fields left 0 take ServiceConfig::default_quota; fields above max_quota are rejected.
    Quota quota;
    bool persistent = false;
    // Required: the guest's addresses, or unisolated (error "identity-required" otherwise).
    NetworkIdentity identity;
};

struct DetachOptions {
    std::optional<std::chrono::milliseconds> timeout;  // default ServiceConfig::default_detach_timeout
};

struct OperationResult {
    std::string op_id;
    Assignment assignment;  // state after the operation (for detach: last state before the row was removed)
};

struct StatusReport {
    std::size_t devices_present = 0;
    std::size_t devices_vanished = 0;
    std::size_t vms = 0;
    std::map<AssignmentState, std::size_t> assignments_by_state;
    std::vector<Assignment> needs_attention;  // failed, or stuck in an in-between state
    std::int64_t last_event_id = 0;
};

struct ReconcileAction {
    VmId vm;
    Guid guid;
    MdevUuid mdev;
    AssignmentState from;
    AssignmentState to;  // removed when the row was deleted
    std::string what;    // one line for people
};

struct ReconcileReport {
    std::string op_id;
    std::vector<ReconcileAction> actions;
    std::vector<MdevUuid> orphan_mdevs_removed;
    // hyv mdevs that hyvd did not make (mdevctl's, an orchestrator's, an operator's): left alone.
    std::vector<MdevUuid> foreign_mdevs;
    // Host links of identities hyvd made that no assignment owns any more, removed.
    std::vector<std::string> orphan_links_removed;
    std::vector<std::string> problems;  // what could not be fixed, one line each, with the fix
    // What could not be looked at although nothing hyvd manages depends on it (a hypervisor that
    // cannot be reached while no registered VM is of its kind), one line each.
    std::vector<std::string> notes;
};

class Service {
public:
    Service(Ports ports, ServiceConfig config = {});
    ~Service();
    Service(const Service&) = delete;
    Service& operator=(const Service&) = delete;

    // Rescans the inventory, refreshes the store, returns every device ever seen.
    Result<std::vector<DeviceView>> devices();
    Result<std::vector<VmView>> vms();
    Result<VmRecord> vm_add(const VmAddRequest& request);
    // Refuses while the VM has assignments (error "vm-has-assignments": detach first).
    Result<void> vm_remove(const VmId& vm);

    Result<OperationResult> attach(const VmId& vm, const Guid& guid, const AttachOptions& options);
    // On error "hot-remove-timeout" the assignment stays `detaching`; run detach again to retry.
    Result<OperationResult> detach(const VmId& vm, const Guid& guid, const DetachOptions& options = {});

    Result<std::vector<Assignment>> list(const std::optional<VmId>& vm = std::nullopt);
    Result<StatusReport> status();
    Result<std::vector<Event>> events(std::int64_t since_id, std::size_t limit);

    // Run once at start (and on demand): finishes or rolls back half-done operations,
    // removes orphan mdevs hyvd made, parks persistent assignments of stopped VMs.
    Result<ReconcileReport> reconcile();

    // Attach and detach calls since this service was made: counts, failures by code, latencies.
    std::map<std::string, OperationStats> operation_stats() const;
    // Called (on the calling thread) after every attach, detach and reconcile; set before serving.
    void set_change_listener(std::function<void()> listener);

private:
    class Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace hyv::core
