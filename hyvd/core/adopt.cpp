// Adoption: VM definitions may declare hyv devices hyvd has no row for (libvirt: a <hyv:device
// guid='...'/> added with `virsh edit`, or a domain defined from XML that hyv wrote elsewhere).
// Reconcile turns each into a persistent assignment in `inactive` (mdev uuid taken from the
// declaration or chosen now) and writes it back into the definition (Hypervisor::record), so the
// VM's next start creates the mdev (libvirt hook) and gets the device.
#include "hyvd/core/service_impl.hpp"

#include <spdlog/spdlog.h>

namespace hyv::core {

using S = AssignmentState;

bool Service::Impl::has_vm_of_kind(VmKind kind)
{
    auto vms = ports.store->vms();
    if (!vms) {
        return true;  // cannot tell: assume one, so nothing is played down (reconcile reports the store)
    }
    for (const auto& vm : *vms) {
        if (vm.kind == kind) {
            return true;
        }
    }
    return false;
}

void Service::Impl::adopt_declared(Journal& journal, ReconcileReport& report)
{
    for (const auto& [kind, hypervisor] : ports.hypervisors) {
        if (hypervisor == nullptr || !hypervisor->defines_devices()) {
            continue;
        }
        auto declared = hypervisor->declared_vms();
        if (!declared) {
            // An unreachable hypervisor no registered VM runs on (libvirtd down on a host of raw QEMU
            // VMs) hinders nothing hyvd manages: a note, not a problem.
            const bool minor = hypervisor->unreachable(declared.error()) && !has_vm_of_kind(kind);
            (minor ? report.notes : report.problems)
                .push_back("cannot read the " + std::string(to_string(kind)) + " VM definitions: " +
                           declared.error().message + "; devices declared there are not adopted yet");
            continue;
        }
        for (const auto& entry : *declared) {
            auto known = ports.store->vm(entry.vm.name);
            if (!known) {
                report.problems.push_back(known.error().message);
                continue;
            }
            VmRecord vm = *known ? **known : entry.vm;
            if (!*known) {
                vm.created_at = clock->now();
                auto added = ports.store->transaction([&]() -> Result<void> {
                    if (auto r = ports.store->insert_vm(vm); !r) {
                        return r;
                    }
                    return journal.note("vm.add", "declares hyv devices in its definition; adopted", vm.name.str());
                });
                if (!added) {
                    report.problems.push_back("VM " + vm.name.str() + ": cannot register it: " + added.error().message);
                    continue;
                }
            }
            for (const auto& device : entry.devices) {
                auto pair_lock = pair_locks.lock(vm.name, device.guid);
                auto existing = ports.store->assignment(vm.name, device.guid);
                if (!existing || *existing) {
                    continue;  // hyvd already manages it (or the store will say why elsewhere)
                }
                const std::string where = "VM " + vm.name.str() + " declares " + device.guid.to_string();
                auto host = find_device(device.guid, Lookup::rescan);
                if (!host || !*host) {
                    report.problems.push_back(where + " in its definition, but no such RDMA device is on this host"
                                                      "; see `hyvctl devices` and fix the definition (`virsh edit`)");
                    continue;
                }
                if (auto r = device.identity.validate(); !r) {
                    report.problems.push_back(where + " without a usable network identity (" + r.error().message +
                                              "); add <hyv:ip address='ADDR' prefix='N'/> or unisolated='yes' to "
                                              "its <hyv:device> (`virsh edit`)");
                    continue;
                }
                if (auto r = check_identity(device.identity, **host, device.guid); !r) {
                    report.problems.push_back(where + ": " + r.error().message);
                    continue;
                }
                Assignment a;
                a.vm = vm.name;
                a.guid = device.guid;
                a.mdev = device.mdev.value_or(MdevUuid::generate());
                a.qdev_id = "hyv-" + a.mdev.to_string();
                const LogScope log_scope({journal.op_id(), a.vm.str(), a.guid.to_string(), a.mdev.to_string()});
                a.state = S::inactive;
                a.persistent = true;
                a.quota = resolve_quota(device.quota);
                a.identity = device.identity;
                if (!a.identity.unisolated) {
                    a.link = identity_link_name(a.mdev);
                    if (!a.identity.vlan && !a.identity.mac) {
                        a.identity.mac = MacAddress::random_local();
                    }
                }
                if (auto r = check_quota(a.quota); !r) {
                    report.problems.push_back(where + ": " + r.error().message);
                    continue;
                }
                if (auto r =
                        journal.insert(a, "reconcile.adopt",
                                       "declared in the VM definition; mdev " + a.mdev.to_string(), (*host)->netdev);
                    !r) {
                    report.problems.push_back(where + ": cannot record it: " + r.error().message);
                    continue;
                }
                if (auto r = ensure_identity(journal, a, (*host)->netdev, "reconcile.identity-created"); !r) {
                    report.problems.push_back(where + ": " + r.error().message + "; reconcile tries again");
                }
                if (auto r = hypervisor->record(vm, a); !r) {
                    report.problems.push_back(where + ": cannot complete the definition: " + r.error().message);
                }
                report.actions.push_back(ReconcileAction{a.vm, a.guid, a.mdev, S::removed, S::inactive,
                                                         "declared in the VM definition; adopted"});
                spdlog::info("[{}] vm={} guid={} mdev={}: adopted from the VM definition", journal.op_id(), a.vm.str(),
                             a.guid.to_string(), a.mdev.to_string());
            }
        }
    }
}

}  // namespace hyv::core
