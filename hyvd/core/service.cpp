#include "hyvd/core/service.hpp"

#include "hyvd/core/service_impl.hpp"
#include "hyvd/core/state_machine.hpp"
#include "hyv/error_codes.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace hyv::core {

using S = AssignmentState;

std::unique_lock<std::mutex> PairLocks::lock(const VmId& vm, const Guid& guid)
{
    std::mutex* pair_mutex = nullptr;
    {
        std::lock_guard guard(map_mutex_);
        auto& slot = locks_[{vm.str(), guid.value()}];
        if (!slot) {
            slot = std::make_unique<std::mutex>();
        }
        pair_mutex = slot.get();
    }
    return std::unique_lock<std::mutex>(*pair_mutex);
}

Service::Impl::Impl(Ports ports_in, ServiceConfig config_in)
    : ports(std::move(ports_in)), config(config_in), clock(ports.clock ? ports.clock : &system_clock)
{
}

Result<Hypervisor*> Service::Impl::hypervisor_for(const VmRecord& vm)
{
    auto it = ports.hypervisors.find(vm.kind);
    if (it == ports.hypervisors.end() || it->second == nullptr) {
        return make_error(errc::no_hypervisor, "hyvd has no " + std::string(to_string(vm.kind)) +
                                                   " hypervisor adapter configured for VM " + vm.name.str());
    }
    return it->second;
}

Result<VmRecord> Service::Impl::load_vm(const VmId& vm)
{
    auto record = ports.store->vm(vm);
    if (!record) {
        return record.error();
    }
    if (!*record) {
        return make_error(errc::unknown_vm, "VM " + vm.str() + " is not known to hyvd; add it with `hyvctl vm add`");
    }
    return **record;
}

Result<VmRecord> Service::Impl::register_libvirt_domain(Journal& journal, const VmId& vm_id)
{
    const std::string unknown = "VM " + vm_id.str() +
                                " is not known to hyvd and is no running libvirt domain; "
                                "add a raw QEMU VM with `hyvctl vm add " +
                                vm_id.str() + " --qmp SOCKET`";
    auto it = ports.hypervisors.find(VmKind::libvirt);
    if (it == ports.hypervisors.end() || it->second == nullptr) {
        return make_error(errc::unknown_vm, unknown);
    }
    VmRecord vm;
    vm.name = vm_id;
    vm.kind = VmKind::libvirt;
    vm.created_at = clock->now();
    auto running = it->second->is_running(vm);
    if (!running || !*running) {
        return make_error(errc::unknown_vm, unknown);
    }
    auto added = ports.store->transaction([&]() -> Result<void> {
        if (auto r = ports.store->insert_vm(vm); !r) {
            return r;
        }
        return journal.note("vm.add", "running libvirt domain registered on first attach", vm_id.str());
    });
    if (!added) {
        return added.error();
    }
    return vm;
}

namespace {

std::string unknown_guid_message(const Guid& guid)
{
    return "no RDMA device with GUID " + guid.to_string() + " on this host; see `hyvctl devices`";
}

}  // namespace

Result<std::vector<HostDevice>> Service::Impl::scan_inventory()
{
    auto scanned = ports.inventory->scan();
    if (!scanned) {
        return scanned.error();
    }
    const TimeMs now = clock->now();
    auto recorded = ports.store->transaction([&]() -> Result<void> {
        for (const auto& device : *scanned) {
            if (auto r = ports.store->upsert_device(device, now); !r) {
                return r;
            }
        }
        return {};
    });
    if (!recorded) {
        return recorded.error();
    }
    std::lock_guard guard(inventory_mutex);
    last_scan = *scanned;
    return scanned;
}

Result<std::optional<HostDevice>> Service::Impl::find_device(const Guid& guid, Lookup lookup)
{
    auto find_in = [&](const std::vector<HostDevice>& devices) -> std::optional<HostDevice> {
        auto it = std::find_if(devices.begin(), devices.end(), [&](const HostDevice& d) { return d.guid == guid; });
        return it == devices.end() ? std::nullopt : std::optional<HostDevice>(*it);
    };
    if (lookup == Lookup::cached) {
        std::lock_guard guard(inventory_mutex);
        if (last_scan) {
            if (auto found = find_in(*last_scan)) {
                return found;
            }
        }
    }
    auto scanned = scan_inventory();
    if (!scanned) {
        return scanned.error();
    }
    return find_in(*scanned);
}

Quota Service::Impl::resolve_quota(const Quota& requested) const
{
    Quota q = requested;
    const Quota& d = config.default_quota;
    q.max_qps = q.max_qps ? q.max_qps : d.max_qps;
    q.max_cqs = q.max_cqs ? q.max_cqs : d.max_cqs;
    q.max_mrs = q.max_mrs ? q.max_mrs : d.max_mrs;
    q.max_pinned_bytes = q.max_pinned_bytes ? q.max_pinned_bytes : d.max_pinned_bytes;
    return q;
}

Result<void> Service::Impl::check_quota(const Quota& q) const
{
    const Quota& m = config.max_quota;
    auto over = [](const char* what, std::uint64_t value, std::uint64_t limit) {
        return make_error(errc::bad_quota, std::string(what) + " " + std::to_string(value) +
                                               " exceeds the host limit " + std::to_string(limit) +
                                               "; ask for less or raise it in hyvd's config");
    };
    if (q.max_qps > m.max_qps) {
        return over("max QPs", q.max_qps, m.max_qps);
    }
    if (q.max_cqs > m.max_cqs) {
        return over("max CQs", q.max_cqs, m.max_cqs);
    }
    if (q.max_mrs > m.max_mrs) {
        return over("max MRs", q.max_mrs, m.max_mrs);
    }
    if (q.max_pinned_bytes > m.max_pinned_bytes) {
        return over("max pinned bytes", q.max_pinned_bytes, m.max_pinned_bytes);
    }
    return {};
}

Result<OperationResult> Service::Impl::attach(const VmId& vm_id, const Guid& guid, const AttachOptions& options)
{
    if (guid.is_zero()) {
        return make_error(errc::bad_guid,
                          "GUID 0000:0000:0000:0000 is an unconfigured device; pick one from `hyvctl devices`");
    }
    if (auto r = options.identity.validate(); !r) {
        return r.error();
    }
    if (!config.manage_mdevs) {
        return make_error(errc::mdevs_external,
                          "hyvd creates no mdevs here (mdev-lifecycle = orchestrator): give the VM its hyv device "
                          "through the orchestrator, or set mdev-lifecycle = hyvd in hyvd's config");
    }
    auto pair_lock = pair_locks.lock(vm_id, guid);
    Journal journal(*ports.store, *clock, new_op_id());
    const LogScope log_scope({journal.op_id(), vm_id.str(), guid.to_string(), {}});

    auto vm = load_vm(vm_id);
    if (!vm && vm.error().code == errc::unknown_vm) {
        vm = register_libvirt_domain(journal, vm_id);
    }
    if (!vm) {
        return vm.error();
    }
    auto existing = ports.store->assignment(vm_id, guid);
    if (!existing) {
        return existing.error();
    }
    if (*existing) {
        return make_error(errc::already_attached,
                          "device " + guid.to_string() + " is already assigned to " + vm_id.str() + " (state " +
                              std::string(to_string((*existing)->state)) + "); detach it first");
    }
    auto found = find_device(guid);
    if (!found) {
        return found.error();
    }
    if (!*found) {
        return make_error(errc::unknown_guid, unknown_guid_message(guid));
    }
    HostDevice device = **found;
    if (auto r = check_identity(options.identity, device, guid); !r) {
        return r.error();
    }
    const Quota quota = resolve_quota(options.quota);
    if (auto r = check_quota(quota); !r) {
        return r.error();
    }
    auto hypervisor = hypervisor_for(*vm);
    if (!hypervisor) {
        return hypervisor.error();
    }
    const auto held = (*hypervisor)->hold(*vm);
    auto running = (*hypervisor)->is_running(*vm);
    if (!running) {
        return running.error();
    }
    if (!*running) {
        return make_error(errc::vm_not_running, "VM " + vm_id.str() + " is not running; start it, then attach");
    }

    Assignment a;
    a.vm = vm_id;
    a.guid = guid;
    a.mdev = MdevUuid::generate();
    current_log_fields().mdev = a.mdev.to_string();
    a.qdev_id = "hyv-" + a.mdev.to_string();
    a.state = S::attaching_intent;
    a.persistent = options.persistent;
    a.quota = quota;
    a.identity = options.identity;
    if (!a.identity.unisolated) {
        a.link = identity_link_name(a.mdev);
        if (!a.identity.vlan && !a.identity.mac) {
            a.identity.mac = MacAddress::random_local();  // kept in the row: a re-made link gets the same
        }
    }
    if (auto r =
            journal.insert(a, "attach.intent",
                           "creating mdev on " + device.ibdev + ", identity " + a.identity.describe(), device.netdev);
        !r) {
        return r.error();
    }
    spdlog::debug("[{}] attach vm={} guid={} mdev={}", journal.op_id(), vm_id.str(), guid.to_string(),
                  a.mdev.to_string());

    // Any failure from here on undoes what was done, then reports the original cause.
    auto roll_back = [&](const Error& cause) -> Result<OperationResult> {
        (void)journal.note(a, "attach.rollback", cause.message);
        if (auto undone = teardown(journal, a, *vm, config.default_detach_timeout); !undone) {
            spdlog::warn("[{}] vm={} guid={} mdev={}: attach failed ({}) and rollback failed: {}", journal.op_id(),
                         vm_id.str(), guid.to_string(), a.mdev.to_string(), cause.message, undone.error().message);
            return make_error(cause.code, cause.message + "; rollback failed too: " + undone.error().message);
        }
        return cause;
    };

    Result<void> created = ports.mdev->create(device.mdev_parent, device.mdev_type, a.mdev);
    if (!created) {
        // The inventory may be stale: the device gone, or back on another parent, since the last scan.
        auto fresh = find_device(guid, Lookup::rescan);
        if (fresh && !*fresh) {
            return roll_back(make_error(errc::unknown_guid, unknown_guid_message(guid)));
        }
        if (fresh && ((*fresh)->mdev_parent != device.mdev_parent || (*fresh)->mdev_type != device.mdev_type)) {
            device = **fresh;
            created = ports.mdev->create(device.mdev_parent, device.mdev_type, a.mdev);
        }
    }
    if (created) {
        created = ports.mdev->set_quota(a.mdev, a.quota);
    }
    if (!created) {
        return roll_back(make_error(created.error().code,
                                    "cannot create mdev for " + guid.to_string() + ": " + created.error().message));
    }
    if (auto r = ensure_identity(journal, a, device.netdev); !r) {
        return roll_back(r.error());
    }
    if (auto r = program_identity(a); !r) {
        return roll_back(r.error());
    }
    if (auto r = journal.transition(a, S::mdev_created, "attach.mdev-created", "hot-adding " + a.qdev_id); !r) {
        return roll_back(r.error());
    }
    if (auto r = plug(journal, a, *vm); !r) {
        return roll_back(r.error());
    }
    spdlog::info("[{}] attached {} to VM {} at {} (mdev {})", journal.op_id(), guid.to_string(), vm_id.str(),
                 a.guest_pci_address, a.mdev.to_string());
    return OperationResult{journal.op_id(), a};
}

Result<OperationResult> Service::Impl::detach(const VmId& vm_id, const Guid& guid, const DetachOptions& options)
{
    auto pair_lock = pair_locks.lock(vm_id, guid);
    Journal journal(*ports.store, *clock, new_op_id());
    const LogScope log_scope({journal.op_id(), vm_id.str(), guid.to_string(), {}});
    auto vm = load_vm(vm_id);
    if (!vm) {
        return vm.error();
    }
    auto existing = ports.store->assignment(vm_id, guid);
    if (!existing) {
        return existing.error();
    }
    if (!*existing) {
        return make_error(errc::not_attached,
                          "device " + guid.to_string() + " is not assigned to " + vm_id.str() + "; see `hyvctl list`");
    }
    Assignment a = **existing;
    current_log_fields().mdev = a.mdev.to_string();
    const Assignment before = a;
    if (auto r = journal.note(a, "detach.requested", "from state " + std::string(to_string(a.state))); !r) {
        return r.error();
    }
    if (auto r = teardown(journal, a, *vm, options.timeout.value_or(config.default_detach_timeout)); !r) {
        return r.error();
    }
    spdlog::info("[{}] detached {} from VM {} (mdev {})", journal.op_id(), guid.to_string(), vm_id.str(),
                 before.mdev.to_string());
    a.state = S::removed;
    return OperationResult{journal.op_id(), a};
}

Service::Service(Ports ports, ServiceConfig config) : impl_(std::make_unique<Impl>(std::move(ports), config)) {}

Service::~Service() = default;

Result<std::vector<DeviceView>> Service::devices()
{
    auto& store = *impl_->ports.store;
    auto known = store.devices();
    if (!known) {
        return known.error();
    }
    auto scanned = impl_->scan_inventory();
    if (!scanned) {
        return scanned.error();
    }
    const TimeMs now = impl_->clock->now();
    auto refreshed = store.transaction([&]() -> Result<void> {
        for (const auto& record : *known) {
            const bool still_there = std::any_of(scanned->begin(), scanned->end(),
                                                 [&](const HostDevice& d) { return d.guid == record.device.guid; });
            if (!still_there && !record.vanished_at) {
                if (auto r = store.mark_device_vanished(record.device.guid, now); !r) {
                    return r;
                }
            }
        }
        return {};
    });
    if (!refreshed) {
        return refreshed.error();
    }
    auto records = store.devices();
    auto assignments = store.assignments();
    if (!records) {
        return records.error();
    }
    if (!assignments) {
        return assignments.error();
    }
    std::vector<DeviceView> views;
    for (auto& record : *records) {
        DeviceView view{record, !record.vanished_at.has_value(), {}};
        for (const auto& a : *assignments) {
            if (a.guid == record.device.guid) {
                view.assigned_to.push_back(a.vm);
            }
        }
        views.push_back(std::move(view));
    }
    return views;
}

Result<std::vector<VmView>> Service::vms()
{
    auto records = impl_->ports.store->vms();
    auto assignments = impl_->ports.store->assignments();
    if (!records) {
        return records.error();
    }
    if (!assignments) {
        return assignments.error();
    }
    std::vector<VmView> views;
    for (auto& vm : *records) {
        VmView view{vm,
                    std::nullopt,
                    static_cast<std::size_t>(std::count_if(assignments->begin(), assignments->end(),
                                                           [&](const Assignment& a) { return a.vm == vm.name; })),
                    {}};
        auto hypervisor = impl_->hypervisor_for(vm);
        auto running = hypervisor ? (*hypervisor)->is_running(vm) : Result<bool>(hypervisor.error());
        if (running) {
            view.running = *running;
        } else {
            view.note = running.error().message;
        }
        views.push_back(std::move(view));
    }
    return views;
}

Result<VmRecord> Service::vm_add(const VmAddRequest& request)
{
    auto name = VmId::parse(request.name);
    if (!name) {
        return name.error();
    }
    if (request.kind == VmKind::qemu && (request.qmp_socket.empty() || request.qmp_socket.front() != '/')) {
        return make_error(errc::bad_qmp_socket, "VM " + request.name +
                                                    " is a raw QEMU VM: give the absolute path of its QMP socket "
                                                    "(QEMU -qmp unix:PATH,server=on,wait=off)");
    }
    VmRecord vm;
    vm.name = *name;
    vm.uuid = request.uuid;
    vm.kind = request.kind;
    vm.qmp_socket = request.kind == VmKind::qemu ? request.qmp_socket : std::string();
    vm.created_at = impl_->clock->now();
    Journal journal(*impl_->ports.store, *impl_->clock, new_op_id());
    const LogScope log_scope({journal.op_id(), vm.name.str(), {}, {}});
    auto added = impl_->ports.store->transaction([&]() -> Result<void> {
        if (auto r = impl_->ports.store->insert_vm(vm); !r) {
            return r;
        }
        return journal.note("vm.add", std::string(to_string(vm.kind)) + " VM added", vm.name.str());
    });
    if (!added) {
        return added.error();
    }
    return vm;
}

Result<void> Service::vm_remove(const VmId& vm)
{
    Journal journal(*impl_->ports.store, *impl_->clock, new_op_id());
    const LogScope log_scope({journal.op_id(), vm.str(), {}, {}});
    return impl_->ports.store->transaction([&]() -> Result<void> {
        if (auto r = impl_->ports.store->delete_vm(vm); !r) {
            return r;
        }
        return journal.note("vm.remove", "VM removed", vm.str());
    });
}

// Counts the call and its duration, then tells the change listener.
template <typename Call>
auto Service::Impl::measured(const char* operation, Call call)
{
    const auto start = std::chrono::steady_clock::now();
    auto result = call();
    operation_counters.record(operation, result ? std::string() : result.error().code,
                              std::chrono::steady_clock::now() - start);
    if (on_change) {
        on_change();
    }
    return result;
}

Result<OperationResult> Service::attach(const VmId& vm, const Guid& guid, const AttachOptions& options)
{
    return impl_->measured("attach", [&] { return impl_->attach(vm, guid, options); });
}

Result<OperationResult> Service::detach(const VmId& vm, const Guid& guid, const DetachOptions& options)
{
    return impl_->measured("detach", [&] { return impl_->detach(vm, guid, options); });
}

std::map<std::string, OperationStats> Service::operation_stats() const
{
    return impl_->operation_counters.snapshot();
}

void Service::set_change_listener(std::function<void()> listener)
{
    impl_->on_change = std::move(listener);
}

Result<std::vector<Assignment>> Service::list(const std::optional<VmId>& vm)
{
    auto all = impl_->ports.store->assignments();
    if (!all || !vm) {
        return all;
    }
    std::vector<Assignment> selected;
    std::copy_if(all->begin(), all->end(), std::back_inserter(selected),
                 [&](const Assignment& a) { return a.vm == *vm; });
    return selected;
}

Result<StatusReport> Service::status()
{
    auto& store = *impl_->ports.store;
    auto devices = store.devices();
    auto vms = store.vms();
    auto assignments = store.assignments();
    if (!devices || !vms || !assignments) {
        return !devices ? devices.error() : !vms ? vms.error() : assignments.error();
    }
    StatusReport report;
    for (const auto& d : *devices) {
        (d.vanished_at ? report.devices_vanished : report.devices_present)++;
    }
    report.vms = vms->size();
    for (const auto& a : *assignments) {
        report.assignments_by_state[a.state]++;
        if (is_in_between(a.state)) {
            report.needs_attention.push_back(a);
        }
    }
    auto last = store.last_event_id();
    if (!last) {
        return last.error();
    }
    report.last_event_id = *last;
    return report;
}

Result<std::vector<Event>> Service::events(std::int64_t since_id, std::size_t limit)
{
    return impl_->ports.store->events(since_id, limit);
}

Result<ReconcileReport> Service::reconcile()
{
    auto report = impl_->reconcile();
    if (impl_->on_change) {
        impl_->on_change();
    }
    return report;
}

}  // namespace hyv::core
