// Taking a device out of a VM and releasing its mdev; re-plugging persistent ones.
// Shared by detach, attach rollback and reconcile so all three follow the same steps.
#include "hyvd/core/service_impl.hpp"

#include "hyv/error_codes.hpp"

#include <spdlog/spdlog.h>

namespace hyv::core {

using S = AssignmentState;

const PresentDevice* find_present(const std::vector<PresentDevice>& present, const Assignment& a)
{
    for (const auto& device : present) {
        if (device.is(a.mdev, a.qdev_id)) {
            return &device;
        }
    }
    return nullptr;
}

Result<void> Service::Impl::teardown(Journal& journal, Assignment& a, const VmRecord& vm,
                                     std::chrono::milliseconds timeout)
{
    auto hypervisor = hypervisor_for(vm);
    if (!hypervisor) {
        return hypervisor.error();
    }
    const auto held = (*hypervisor)->hold(vm);
    // Out of the VM's definition first: a domain started meanwhile must not ask for it again.
    if ((*hypervisor)->defines_devices()) {
        if (auto r = (*hypervisor)->forget(vm, a); !r) {
            return r;
        }
    }
    auto running = (*hypervisor)->is_running(vm);
    if (!running) {
        return running.error();
    }
    if (*running) {
        auto present = (*hypervisor)->find_hyv_device(vm, a.mdev, a.qdev_id);
        if (!present) {
            return present.error();
        }
        if (*present) {
            const bool retry = a.state == S::detaching;
            if (auto r = journal.transition(a, S::detaching, retry ? "detach.retry" : "detach.hot-remove",
                                            "device_del " + a.qdev_id);
                !r) {
                return r;
            }
            auto removed = (*hypervisor)->hot_remove(vm, a.qdev_id, timeout);
            if (!removed) {
                // The request may have completed even though waiting for it failed: ask again.
                auto after = (*hypervisor)->find_hyv_device(vm, a.mdev, a.qdev_id);
                if (!after || *after) {
                    const Error cause = removed.error();
                    std::string message = cause.code == errc::hot_remove_timeout
                                              ? "the guest of " + vm.name.str() + " has not released " +
                                                    a.guid.to_string() + " (" + a.qdev_id +
                                                    "); it stays 'detaching': run `hyvctl detach " + vm.name.str() +
                                                    " " + a.guid.to_string() + "` again to retry, or stop the VM"
                                              : "device_del of " + a.qdev_id + " failed: " + cause.message +
                                                    "; it stays 'detaching': retry the detach";
                    (void)journal.transition(a, S::detaching, "detach.pending", message,
                                             [&](Assignment& row) { row.last_error = message; });
                    return make_error(cause.code, message);
                }
            }
        }
    }
    if (a.state != S::detached_mdev_present) {
        if (auto r = journal.transition(a, S::detached_mdev_present, "detach.released",
                                        "no QEMU holds " + a.mdev.to_string() + "; removing the mdev");
            !r) {
            return r;
        }
    }
    return release_mdev(journal, a);
}

Result<void> Service::Impl::release_mdev(Journal& journal, Assignment& a)
{
    auto exists = ports.mdev->exists(a.mdev);
    if (!exists) {
        return exists.error();
    }
    auto fail = [&](const Error& cause, const std::string& what) -> Result<void> {
        const std::string message = what + ": " + cause.message + "; fix the cause and run `hyvctl detach " +
                                    a.vm.str() + " " + a.guid.to_string() + "` to retry";
        (void)journal.transition(a, S::failed, "detach.failed", message,
                                 [&](Assignment& row) { row.last_error = message; });
        return make_error(cause.code, message);
    };
    if (*exists && !config.manage_mdevs) {
        // An orchestrator owns mdev lifecycle: the row goes, the mdev stays. It is still recorded as
        // hyvd's, so a hyvd that manages mdevs again removes it as an orphan. The link is hyvd's alone.
        if (auto r = release_link(journal, a); !r) {
            return fail(r.error(), "cannot remove identity link " + a.link);
        }
        return ports.store->transaction([&]() -> Result<void> {
            if (!a.link.empty()) {
                if (auto r = ports.store->disown_link(a.link); !r) {
                    return r;
                }
            }
            return journal.transition(a, S::removed, "detach.done",
                                      "mdev left in place (mdev-lifecycle = orchestrator), assignment deleted");
        });
    }
    if (*exists) {
        if (auto removed = ports.mdev->remove(a.mdev); !removed) {
            return fail(removed.error(), "cannot remove mdev " + a.mdev.to_string());
        }
    }
    // The identity link goes after the mdev, so no instance ever points at a missing link.
    if (auto r = release_link(journal, a); !r) {
        return fail(r.error(), "cannot remove identity link " + a.link);
    }
    // The mdev and link are gone: they stop being hyvd's in the transaction that deletes the row.
    return ports.store->transaction([&]() -> Result<void> {
        if (auto r = ports.store->disown_mdev(a.mdev); !r) {
            return r;
        }
        if (!a.link.empty()) {
            if (auto r = ports.store->disown_link(a.link); !r) {
                return r;
            }
        }
        return journal.transition(a, S::removed, "detach.done",
                                  *exists ? "mdev removed, assignment deleted"
                                          : "mdev already gone, assignment deleted");
    });
}

Result<void> Service::Impl::ensure_mdev(Journal& journal, const Assignment& a)
{
    auto exists = ports.mdev->exists(a.mdev);
    if (!exists) {
        return exists.error();
    }
    if (*exists) {
        return {};
    }
    if (!config.manage_mdevs) {
        return make_error(errc::mdevs_external,
                          "mdev " + a.mdev.to_string() + " of " + a.guid.to_string() + " in VM " + a.vm.str() +
                              " is missing and hyvd creates no mdevs (mdev-lifecycle = orchestrator); have the "
                              "orchestrator create it, or detach the device");
    }
    auto device = find_device(a.guid, Lookup::rescan);  // re-plugs are rare; a stale parent would fail one
    if (!device) {
        return device.error();
    }
    if (!*device) {
        return make_error(errc::unknown_guid, "device " + a.guid.to_string() + " of VM " + a.vm.str() +
                                                  " is not on this host now; it cannot be re-created until it returns");
    }
    if (auto r = journal.note(a, "mdev.recreate", "recreating mdev of a persistent assignment"); !r) {
        return r;
    }
    if (auto r = ports.mdev->create((*device)->mdev_parent, (*device)->mdev_type, a.mdev); !r) {
        return r;
    }
    if (auto r = ports.mdev->set_quota(a.mdev, a.quota); !r) {
        return r;
    }
    if (auto r = ensure_identity(journal, a, (*device)->netdev); !r) {
        return r;
    }
    return program_identity(a);
}

Result<void> Service::Impl::keep_for_stopped_vm(Journal& journal, const Assignment& a, const VmRecord& vm)
{
    auto hypervisor = hypervisor_for(vm);
    if (!hypervisor) {
        return hypervisor.error();
    }
    if ((*hypervisor)->defines_devices()) {
        return {};  // the VM's definition keeps it; its start hook makes the mdev
    }
    return ensure_mdev(journal, a);
}

Result<void> Service::Impl::record(const Assignment& a, const VmRecord& vm)
{
    auto hypervisor = hypervisor_for(vm);
    if (!hypervisor) {
        return hypervisor.error();
    }
    if (!(*hypervisor)->defines_devices()) {
        return {};
    }
    return (*hypervisor)->record(vm, a);
}

Result<void> Service::Impl::plug(Journal& journal, Assignment& a, const VmRecord& vm)
{
    auto hypervisor = hypervisor_for(vm);
    if (!hypervisor) {
        return hypervisor.error();
    }
    const auto held = (*hypervisor)->hold(vm);
    if (a.state != S::mdev_created) {
        if (auto r = journal.transition(a, S::mdev_created, "attach.replug", "mdev ready; hot-adding " + a.qdev_id);
            !r) {
            return r;
        }
    }
    auto address = (*hypervisor)->hot_add(vm, a.mdev, a.qdev_id);
    if (!address) {
        // A timed-out device_add may still have happened; reality decides.
        auto found = (*hypervisor)->find_hyv_device(vm, a.mdev, a.qdev_id);
        if (!found || !*found) {
            return address.error();
        }
        address = (*found)->guest_pci_address;
    }
    if (auto r = journal.transition(a, S::hotplugged, "attach.hotplugged", "guest PCI address " + *address,
                                    [&](Assignment& row) { row.guest_pci_address = *address; });
        !r) {
        return r;
    }
    // A hot-add that returned an address was verified by the hypervisor's own listing; otherwise ask.
    std::string verified_address = *address;
    if (verified_address.empty()) {
        auto found = (*hypervisor)->find_hyv_device(vm, a.mdev, a.qdev_id);
        if (!found) {
            return found.error();
        }
        if (!*found) {
            return make_error(errc::verify_failed, "VM " + vm.name.str() + " accepted device_add of " + a.qdev_id +
                                                       " but does not list it; see `hyvctl events` and the QEMU log");
        }
        verified_address = (*found)->guest_pci_address;
    }
    if (auto r = journal.transition(a, S::attached, "attach.done", "in the VM at " + verified_address,
                                    [&](Assignment& row) { row.guest_pci_address = verified_address; });
        !r) {
        return r;
    }
    if (auto r = record(a, vm); !r) {
        return make_error(r.error().code, "cannot record " + a.guid.to_string() + " in the definition of VM " +
                                              vm.name.str() + ": " + r.error().message);
    }
    return {};
}

}  // namespace hyv::core
