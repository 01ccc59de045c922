// What the hyvd core needs from the outside world (hexagonal "ports"). The core knows
// nothing of sqlite, sysfs, QMP or libvirt; adapters in hyvd/adapters and qmp/
// implement these. Every call returns hyv::Result: adapters never throw across here.
#pragma once

#include "hyv/result.hpp"
#include "hyv/types.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace hyv::core {

// Unix epoch milliseconds; what the store keeps for every timestamp.
using TimeMs = std::int64_t;

// A host RDMA device as the inventory sees it now.
struct HostDevice {
    Guid guid;           // node GUID
    std::string ibdev;   // "rxe0", "mlx5_0"
    std::string driver;  // "rdma_rxe", "mlx5_core"
    std::uint32_t ports = 0;
    std::string link_layer;   // "Ethernet" or "InfiniBand" (port 1)
    std::string mdev_parent;  // sysfs path of the hyv_mdev parent device serving this GUID
    std::string mdev_type;    // mdev type name under mdev_supported_types, e.g. "hyv_mdev-virtio-hyv"
    std::string netdev;       // the host netdev of port 1 ("eth0"); empty without one (InfiniBand)
};

// A host device as the store remembers it (it may have vanished since).
struct DeviceRecord {
    HostDevice device;
    TimeMs first_seen = 0;
    TimeMs last_seen = 0;
    std::optional<TimeMs> vanished_at;  // set when a scan no longer finds it
};

struct VmRecord {
    VmId name;
    std::string uuid;  // libvirt domain / QEMU -uuid, may be empty for raw QEMU
    VmKind kind = VmKind::qemu;
    std::string qmp_socket;  // raw QEMU only: path of its QMP unix socket
    TimeMs created_at = 0;
    // What reconcile last saw: "unknown", "running" or "stopped" (informational only;
    // decisions always ask the hypervisor again).
    std::string observed_state = "unknown";
    std::optional<TimeMs> observed_at;
};

struct Assignment {
    VmId vm;
    Guid guid;
    MdevUuid mdev;
    std::string qdev_id;            // QEMU device id used for device_add/device_del ("hyv-<mdev prefix>")
    std::string guest_pci_address;  // "0000:01:00.0" as the guest will see it (bus:slot.fn); empty until hot-added
    AssignmentState state = AssignmentState::attaching_intent;
    bool persistent = false;  // survive VM stop: mdev kept, re-plugged when the VM runs again
    Quota quota;
    NetworkIdentity identity;  // fixed at attach
    std::string link;          // host link carrying `identity` ("hyv3b5f01ab"); empty when unisolated
    TimeMs created_at = 0;
    TimeMs updated_at = 0;
    std::string last_error;  // one line; empty when the last step succeeded
    std::string op_id;       // operation that last changed this row
};

// Append-only audit log; every step of every operation writes one.
struct Event {
    std::int64_t id = 0;  // assigned by the store, strictly increasing
    TimeMs time = 0;
    std::string op_id;
    std::string vm;    // empty when not about one VM
    std::string guid;  // normal form or empty
    std::string mdev;  // uuid or empty
    std::string kind;  // "attach.intent", "attach.mdev-created", "reconcile.rollback", ...
    std::string message;
};

// Persistent state. Implementations must make each call atomic and durable on return,
// and `transaction` must make everything inside it atomic (nested calls allowed).
class Store {
public:
    virtual ~Store() = default;

    // Runs `body`; commits when it returns ok, rolls back when it returns an error.
    virtual Result<void> transaction(const std::function<Result<void>()>& body) = 0;

    // Host devices: upsert refreshes last_seen and clears vanished_at.
    virtual Result<void> upsert_device(const HostDevice& device, TimeMs now) = 0;
    virtual Result<void> mark_device_vanished(const Guid& guid, TimeMs now) = 0;
    virtual Result<std::optional<DeviceRecord>> device(const Guid& guid) = 0;
    virtual Result<std::vector<DeviceRecord>> devices() = 0;

    // VMs known to hyvd.
    virtual Result<void> insert_vm(const VmRecord& vm) = 0;  // error "vm-exists" if present
    virtual Result<void> delete_vm(const VmId& vm) = 0;      // error "vm-has-assignments" while any remain
    virtual Result<std::optional<VmRecord>> vm(const VmId& vm) = 0;
    virtual Result<std::vector<VmRecord>> vms() = 0;
    virtual Result<void> set_vm_observed_state(const VmId& vm, bool running, TimeMs now) = 0;

    // Assignments, at most one per (vm, guid); mdev uuids unique.
    virtual Result<void> insert_assignment(const Assignment& assignment) = 0;  // error "already-assigned"
    // Compare-and-set: writes `assignment` only if the stored row is still in `expected`;
    // error "state-conflict" otherwise. Callers check the transition table first.
    virtual Result<void> update_assignment(const Assignment& assignment, AssignmentState expected) = 0;
    virtual Result<void> delete_assignment(const VmId& vm, const Guid& guid) = 0;
    virtual Result<std::optional<Assignment>> assignment(const VmId& vm, const Guid& guid) = 0;
    virtual Result<std::vector<Assignment>> assignments() = 0;

    // The mdevs hyvd made, or is about to make, for its own assignments: reconcile removes no
    // other (mdevctl's, an orchestrator's). own_mdev is written with the assignment that chose the
    // UUID, before the mdev exists; disown_mdev once it is gone. Owning one twice is no error.
    virtual Result<void> own_mdev(const MdevUuid& mdev, const Guid& guid, TimeMs now, const std::string& op_id) = 0;
    virtual Result<void> disown_mdev(const MdevUuid& mdev) = 0;
    virtual Result<std::vector<MdevUuid>> owned_mdevs() = 0;

    // The host links hyvd made, or is about to make, for identities (like own_mdev): reconcile
    // removes no other. own_link is written with the assignment that named the link.
    virtual Result<void> own_link(const std::string& name, const std::string& parent, const MdevUuid& mdev, TimeMs now,
                                  const std::string& op_id) = 0;
    virtual Result<void> disown_link(const std::string& name) = 0;
    virtual Result<std::vector<std::string>> owned_links() = 0;

    // Events: append returns the new id; `events` returns ids > since_id, oldest first.
    virtual Result<std::int64_t> append_event(const Event& event) = 0;
    virtual Result<std::vector<Event>> events(std::int64_t since_id, std::size_t limit) = 0;
    virtual Result<std::int64_t> last_event_id() = 0;  // 0 when there are none
};

struct MdevInstance {
    MdevUuid uuid;
    std::string parent_path;  // sysfs path of its parent
    std::string type;         // mdev type name
};

// What an mdev instance may see of the host's RoCE GID table: the GIDs of one host netdev (the
// identity's link), or, unisolated, all of them.
struct GidScope {
    std::string netdev;
    bool unisolated = false;
};

// VFIO mediated devices of hyv_mdev (sysfs: mdev_supported_types/<type>/create, <uuid>/remove).
class MdevControl {
public:
    virtual ~MdevControl() = default;
    virtual Result<void> create(const std::string& parent_path, const std::string& type, const MdevUuid& uuid) = 0;
    // Programs the instance's limits; called right after create, before any QEMU opens it.
    virtual Result<void> set_quota(const MdevUuid& uuid, const Quota& quota) = 0;
    // Which host GIDs the instance may see and use (hyv_mdev identity/*); called after set_quota,
    // before any QEMU opens it. An instance with neither sees no GID. Error "mdev-identity" when
    // the module has no identity attributes (too old to isolate) or refuses the write.
    virtual Result<void> set_identity(const MdevUuid& uuid, const GidScope& scope) = 0;
    // Error "mdev-busy" while a QEMU still holds it open; removing an absent mdev is an error "mdev-absent".
    virtual Result<void> remove(const MdevUuid& uuid) = 0;
    virtual Result<bool> exists(const MdevUuid& uuid) = 0;
    // hyv_mdev instances only (instances of other vendor drivers are none of our business).
    virtual Result<std::vector<MdevInstance>> list() = 0;
};

// A host link that carries one guest's network identity: a macvlan (mode bridge) or, with a VLAN,
// a VLAN device on the RDMA device's netdev, with the identity's MAC and addresses, up. The host's
// RDMA core then adds RoCE GIDs for it to the RDMA device.
struct IdentityLink {
    std::string name;    // <= 15 characters
    std::string parent;  // the RDMA device's netdev
    std::optional<MacAddress> mac;
    std::optional<VlanId> vlan;
    std::vector<IpPrefix> addresses;
};

// The host links of network identities (netlink). Creating one whose name exists is error
// "link-exists"; removing an absent one "link-absent".
class NetIdentity {
public:
    virtual ~NetIdentity() = default;
    virtual Result<void> create(const IdentityLink& link) = 0;
    virtual Result<void> remove(const std::string& name) = 0;
    virtual Result<bool> exists(const std::string& name) = 0;
    // Links that look like hyvd's by name (prefix "hyv"); whether hyvd made one is the store's word.
    virtual Result<std::vector<std::string>> list_own() = 0;
};

// Host RDMA devices (sysfs /sys/class/infiniband + hyv_mdev parents).
class Inventory {
public:
    virtual ~Inventory() = default;
    virtual Result<std::vector<HostDevice>> scan() = 0;
};

// A hyv device a running VM currently holds, as its hypervisor reports it.
struct PresentDevice {
    std::string qdev_id;
    MdevUuid mdev;
    std::string guest_pci_address;

    // Whether this is the device hyvd plugged as `id` or backed by mdev `uuid` (an operator may
    // have re-added it under another id).
    bool is(const MdevUuid& uuid, const std::string& id) const
    {
        return mdev == uuid || (!id.empty() && qdev_id == id);
    }
};

// A hyv device a VM's own definition asks for (libvirt: a <hyv:device> in the persistent domain XML).
struct DeclaredDevice {
    Guid guid;
    std::optional<MdevUuid> mdev;  // empty: written by hand, hyvd has not completed it yet
    Quota quota;                   // zero fields: defaults
    NetworkIdentity identity;      // empty: none declared (refused when adopted)
};

struct DeclaredVm {
    VmRecord vm;
    std::vector<DeclaredDevice> devices;
};

// Hot-plug of hyv mdevs into one kind of VM (QMP for raw QEMU, libvirt for domains).
class Hypervisor {
public:
    virtual ~Hypervisor() = default;

    // Whatever hold() keeps open; released when destroyed.
    class Hold {
    public:
        virtual ~Hold() = default;
    };
    // Keeps the way to `vm` open until the returned object is destroyed, so that the calls of one
    // operation made from this thread share it (QMP: one connection instead of one per call). Other
    // threads' calls for `vm` wait meanwhile. nullptr: nothing to keep, every call reaches it alone.
    virtual std::unique_ptr<Hold> hold(const VmRecord&) { return nullptr; }
    virtual Result<bool> is_running(const VmRecord& vm) = 0;
    // device_add vfio-pci,sysfsdev=/sys/bus/mdev/devices/<uuid>,id=<qdev_id>. Returns the guest PCI
    // address at which the hypervisor lists the device afterwards (that listing is the attach's
    // verification), or "" when it cannot list it yet (e.g. the guest has not numbered the bus).
    virtual Result<std::string> hot_add(const VmRecord& vm, const MdevUuid& mdev, const std::string& qdev_id) = 0;
    // device_del and wait for DEVICE_DELETED (the guest must cooperate). Error code
    // "hot-remove-timeout" when the guest has not released it within `timeout`; the
    // request stays pending in QEMU, so calling again later is the retry.
    virtual Result<void> hot_remove(const VmRecord& vm, const std::string& qdev_id,
                                    std::chrono::milliseconds timeout) = 0;
    // Every vfio-pci device of this VM whose sysfsdev is an mdev (for reconciliation).
    virtual Result<std::vector<PresentDevice>> list_hyv_devices(const VmRecord& vm) = 0;
    // The device with this qdev id, or else the one backed by this mdev, if the VM holds it. This
    // default lists them all; adapters that can ask for one id directly override it.
    virtual Result<std::optional<PresentDevice>> find_hyv_device(const VmRecord& vm, const MdevUuid& mdev,
                                                                 const std::string& qdev_id)
    {
        auto present = list_hyv_devices(vm);
        if (!present) {
            return present.error();
        }
        return find_in(*present, mdev, qdev_id);
    }
    static std::optional<PresentDevice> find_in(const std::vector<PresentDevice>& present, const MdevUuid& mdev,
                                                const std::string& qdev_id)
    {
        for (const auto& device : present) {
            if (device.is(mdev, qdev_id)) {
                return device;
            }
        }
        return std::nullopt;
    }

    // True when the VM's own definition carries its persistent hyv devices across restarts
    // (libvirt: hostdev + hyv metadata in the domain XML; the libvirt hook creates the mdevs when
    // the VM starts and removes them when it stops). The core then keeps no mdev for a stopped VM
    // and writes every attach into the definition with record().
    virtual bool defines_devices() const { return false; }
    // Writes `a` into the VM's definition: the running VM's metadata, and when a.persistent the
    // persistent definition (device + metadata). Idempotent.
    virtual Result<void> record(const VmRecord&, const Assignment&) { return {}; }
    // Removes what record() wrote, live and persistent. Idempotent.
    virtual Result<void> forget(const VmRecord&, const Assignment&) { return {}; }
    // Every VM of this kind whose persistent definition declares hyv devices (adopted by reconcile).
    virtual Result<std::vector<DeclaredVm>> declared_vms() { return std::vector<DeclaredVm>{}; }

    // Whether `error`, returned by one of this hypervisor's calls, means the hypervisor could not be
    // reached at all (libvirt: libvirtd down) rather than that the request failed. While no registered
    // VM is of this kind, reconcile reports such an error of declared_vms() as a note, not a problem.
    virtual bool unreachable(const Error&) const { return false; }
};

// Wall clock, injectable so tests are deterministic.
class Clock {
public:
    virtual ~Clock() = default;
    virtual TimeMs now() = 0;
};

}  // namespace hyv::core
