#include "hyvd/adapters/libvirt_hotplug.hpp"

#include "hyvd/adapters/libvirt_support.hpp"
#include "hyv/error_codes.hpp"

#include <hyv/domain_xml.hpp>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <condition_variable>
#include <set>

namespace hyv::adapters {

using namespace libvirt_support;

namespace {

using core::PresentDevice;
using core::VmRecord;

constexpr auto kRemovalPollSlice = std::chrono::milliseconds(250);

struct RemovalWaiter {
    std::mutex mutex;
    std::condition_variable removed_changed;
    std::set<std::string> removed_aliases;
};

void wake_removal_waiter(virConnectPtr, virDomainPtr, const char* alias, void* opaque)
{
    auto& waiter = **static_cast<std::shared_ptr<RemovalWaiter>*>(opaque);
    std::lock_guard lock(waiter.mutex);
    waiter.removed_aliases.insert(alias != nullptr ? alias : "");
    waiter.removed_changed.notify_all();
}

void free_waiter(void* opaque)
{
    delete static_cast<std::shared_ptr<RemovalWaiter>*>(opaque);
}

// Deregisters the device-removed callback when the detach is over.
class RemovalSubscription {
public:
    RemovalSubscription(virConnectPtr connection, virDomainPtr domain, const std::shared_ptr<RemovalWaiter>& waiter)
        : connection_(connection)
    {
        auto* opaque = new std::shared_ptr<RemovalWaiter>(waiter);
        id_ = virConnectDomainEventRegisterAny(connection, domain, VIR_DOMAIN_EVENT_ID_DEVICE_REMOVED,
                                               VIR_DOMAIN_EVENT_CALLBACK(wake_removal_waiter), opaque, free_waiter);
        if (id_ < 0) {
            delete opaque;
            spdlog::debug("libvirt: no device-removed events ({}); polling the domain XML", last_libvirt_error());
        }
    }
    ~RemovalSubscription()
    {
        if (id_ >= 0) {
            virConnectDomainEventDeregisterAny(connection_, id_);
        }
    }
    RemovalSubscription(const RemovalSubscription&) = delete;
    RemovalSubscription& operator=(const RemovalSubscription&) = delete;

private:
    virConnectPtr connection_;
    int id_ = -1;
};

}  // namespace

LibvirtHotplug::LibvirtHotplug(LibvirtHotplugOptions options) : options_(std::move(options))
{
    ensure_event_loop();
}

LibvirtHotplug::~LibvirtHotplug()
{
    std::lock_guard lock(mutex_);
    unsubscribe();
    connection_.reset();
}

Result<bool> LibvirtHotplug::is_running(const VmRecord& vm)
{
    auto domain = open_domain(connection(), vm);
    if (!domain) {
        if (domain.error().code == errc::vm_not_found) {
            return false;
        }
        return domain.error();
    }
    const int active = virDomainIsActive(domain->get());
    if (active < 0) {
        return libvirt_error(vm, "cannot tell whether the domain is active");
    }
    return active == 1;
}

Result<std::string> LibvirtHotplug::hot_add(const VmRecord& vm, const MdevUuid& mdev, const std::string& qdev_id)
{
    auto domain = open_domain(connection(), vm);
    if (!domain) {
        return domain.error();
    }
    const std::string alias = domain_xml::alias_for(qdev_id);
    const std::string xml = domain_xml::hostdev_xml(mdev, qdev_id);
    if (virDomainAttachDeviceFlags(domain->get(), xml.c_str(), VIR_DOMAIN_AFFECT_LIVE) < 0) {
        return make_error(errc::libvirt_attach_failed, "VM " + vm.name.str() + ": libvirt refused to attach mdev " +
                                                           mdev.to_string() + ": " + last_libvirt_error());
    }
    spdlog::info("vm {}: attached mdev {} as {}", vm.name.str(), mdev.to_string(), alias);
    auto xml_now = domain_xml(domain->get(), vm);
    if (!xml_now) {
        return xml_now.error();
    }
    auto parsed = domain_xml::parse_domain(*xml_now);
    if (!parsed) {
        return parsed.error();
    }
    for (const auto& hostdev : parsed->hostdevs) {
        if (hostdev.alias == alias) {
            return hostdev.pci_address;
        }
    }
    return std::string{};
}

Result<void> LibvirtHotplug::hot_remove(const VmRecord& vm, const std::string& qdev_id,
                                        std::chrono::milliseconds timeout)
{
    auto connected = connection();
    if (!connected) {
        return connected.error();
    }
    auto domain = lookup(connected->get(), vm);
    if (!domain) {
        return domain.error();
    }
    const std::string alias = domain_xml::alias_for(qdev_id);
    const auto still_there = [&]() -> Result<bool> {
        auto xml = domain_xml(domain->get(), vm);
        if (!xml) {
            return xml.error();
        }
        return domain_xml::has_device_alias(*xml, alias);
    };
    auto present = still_there();
    if (!present) {
        return present.error();
    }
    if (!*present) {
        return {};
    }
    auto waiter = std::make_shared<RemovalWaiter>();
    RemovalSubscription subscription(connected->get(), domain->get(), waiter);
    // Asynchronous: returns once QEMU has the request; the guest decides when it is done.
    if (virDomainDetachDeviceAlias(domain->get(), alias.c_str(), VIR_DOMAIN_AFFECT_LIVE) < 0) {
        const std::string reason = last_libvirt_error();
        auto gone = still_there();
        if (gone && !*gone) {
            return {};
        }
        // A detach already waiting for the guest is not an error: keep waiting for it.
        if (reason.find("already in the process of unplug") == std::string::npos) {
            return make_error(errc::libvirt_detach_failed,
                              "VM " + vm.name.str() + ": libvirt refused to detach " + alias + ": " + reason);
        }
    }
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
        {
            std::unique_lock lock(waiter->mutex);
            const auto slice_end = std::min(deadline, std::chrono::steady_clock::now() + kRemovalPollSlice);
            if (waiter->removed_changed.wait_until(lock, slice_end,
                                                   [&] { return waiter->removed_aliases.count(alias) != 0; })) {
                spdlog::info("vm {}: guest released {}", vm.name.str(), alias);
                return {};
            }
        }
        auto remaining = still_there();
        if (!remaining) {
            return remaining.error();
        }
        if (!*remaining) {
            return {};
        }
        if (std::chrono::steady_clock::now() >= deadline) {
            return make_error(errc::hot_remove_timeout,
                              "VM " + vm.name.str() + " did not release " + alias + " within " +
                                  std::to_string(timeout.count()) +
                                  " ms; the guest OS must acknowledge PCIe hot-unplug (is it booted and not hung?); "
                                  "the request stays pending, retry the detach later");
        }
    }
}

Result<std::vector<PresentDevice>> LibvirtHotplug::list_hyv_devices(const VmRecord& vm)
{
    auto domain = open_domain(connection(), vm);
    if (!domain) {
        return domain.error();
    }
    auto xml = domain_xml(domain->get(), vm);
    if (!xml) {
        return xml.error();
    }
    auto parsed = domain_xml::parse_domain(*xml);
    if (!parsed) {
        return parsed.error();
    }
    std::vector<PresentDevice> present;
    for (const auto& hostdev : parsed->hostdevs) {
        auto uuid = MdevUuid::parse(hostdev.mdev_uuid);
        if (!uuid) {
            continue;
        }
        // Our aliases are "ua-<qdev_id>"; report the qdev_id so it matches what the core stored.
        std::string qdev_id = hostdev.alias;
        const std::string_view prefix = domain_xml::kUserAliasPrefix;
        if (qdev_id.rfind(prefix, 0) == 0) {
            qdev_id.erase(0, prefix.size());
        }
        present.push_back({qdev_id, *uuid, hostdev.pci_address});
    }
    return present;
}

}  // namespace hyv::adapters
