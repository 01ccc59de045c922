// LibvirtHotplug and the domain definition (docs/libvirt.md): <hyv:devices> metadata live and
// persistent, the persistent <hostdev type='mdev'> of persistent assignments, and the list of
// domains that declare hyv devices. Never called from the libvirt hook (which must not call libvirt).
#include "hyvd/adapters/libvirt_hotplug.hpp"

#include "hyvd/adapters/libvirt_support.hpp"
#include "hyv/error_codes.hpp"

#include <hyv/domain_xml.hpp>

#include <spdlog/spdlog.h>

namespace hyv::adapters {

using namespace libvirt_support;

namespace {

using Devices = std::vector<domain_xml::Device>;

// The <hyv:devices> of the live (VIR_DOMAIN_AFFECT_LIVE) or persistent (_CONFIG) definition.
Result<Devices> read_metadata(virDomainPtr domain, const core::VmRecord& vm, unsigned int flags)
{
    CString xml(virDomainGetMetadata(domain, VIR_DOMAIN_METADATA_ELEMENT, domain_xml::kNamespace, flags));
    if (!xml) {
        if (last_libvirt_code() == VIR_ERR_NO_DOMAIN_METADATA) {
            return Devices{};
        }
        return libvirt_error(vm, "cannot read the hyv metadata");
    }
    auto devices = domain_xml::parse_metadata(xml.get());
    if (!devices) {
        return make_error(devices.error().code, "VM " + vm.name.str() + ": " + devices.error().message);
    }
    return *devices;
}

// Rewrites <hyv:devices> with `change` applied; removes the element when no device is left.
template <typename Change>
Result<void> update_metadata(virDomainPtr domain, const core::VmRecord& vm, unsigned int flags, Change change)
{
    auto current = read_metadata(domain, vm, flags);
    if (!current) {
        return current.error();
    }
    const Devices updated = change(*current);
    if (updated == *current) {
        return {};
    }
    const std::string xml = domain_xml::metadata_xml(updated);
    const int set = updated.empty() ? virDomainSetMetadata(domain, VIR_DOMAIN_METADATA_ELEMENT, nullptr, nullptr,
                                                           domain_xml::kNamespace, flags)
                                    : virDomainSetMetadata(domain, VIR_DOMAIN_METADATA_ELEMENT, xml.c_str(),
                                                           domain_xml::kPrefix, domain_xml::kNamespace, flags);
    if (set < 0) {
        return libvirt_error(vm, "cannot write the hyv metadata");
    }
    return {};
}

// Whether the persistent definition has a hostdev for `mdev`.
Result<bool> defines_hostdev(virDomainPtr domain, const core::VmRecord& vm, const MdevUuid& mdev)
{
    auto xml = domain_xml(domain, vm, VIR_DOMAIN_XML_INACTIVE);
    if (!xml) {
        return xml.error();
    }
    auto parsed = domain_xml::parse_domain(*xml);
    if (!parsed) {
        return parsed.error();
    }
    for (const auto& hostdev : parsed->hostdevs) {
        if (hostdev.mdev_uuid == mdev.to_string()) {
            return true;
        }
    }
    return false;
}

struct DomainFlags {
    bool active = false;
    bool persistent = false;
};

Result<DomainFlags> flags_of(virDomainPtr domain, const core::VmRecord& vm)
{
    const int active = virDomainIsActive(domain);
    const int persistent = virDomainIsPersistent(domain);
    if (active < 0 || persistent < 0) {
        return libvirt_error(vm, "cannot tell whether the domain is active and persistent");
    }
    return DomainFlags{active == 1, persistent == 1};
}

}  // namespace

Result<void> LibvirtHotplug::record(const core::VmRecord& vm, const core::Assignment& a)
{
    auto domain = open_domain(connection(), vm);
    if (!domain) {
        return domain.error();
    }
    auto flags = flags_of(domain->get(), vm);
    if (!flags) {
        return flags.error();
    }
    const domain_xml::Device device{a.guid, a.mdev, a.quota, a.identity};
    const auto add = [&](const Devices& devices) { return domain_xml::with_device(devices, device); };
    if (flags->active) {
        if (auto r = update_metadata(domain->get(), vm, VIR_DOMAIN_AFFECT_LIVE, add); !r) {
            return r;
        }
    }
    if (!a.persistent) {
        return {};
    }
    if (!flags->persistent) {
        return make_error(errc::libvirt_transient_domain, "VM " + vm.name.str() +
                                                              " is a transient libvirt domain: it has no definition "
                                                              "to keep the device in; attach without --persistent");
    }
    auto defined = defines_hostdev(domain->get(), vm, a.mdev);
    if (!defined) {
        return defined.error();
    }
    if (!*defined) {
        const std::string hostdev = domain_xml::hostdev_xml(a.mdev, a.qdev_id);
        if (virDomainAttachDeviceFlags(domain->get(), hostdev.c_str(), VIR_DOMAIN_AFFECT_CONFIG) < 0) {
            return libvirt_error(vm, "cannot add mdev " + a.mdev.to_string() + " to the persistent definition");
        }
    }
    if (auto r = update_metadata(domain->get(), vm, VIR_DOMAIN_AFFECT_CONFIG, add); !r) {
        return r;
    }
    spdlog::debug("vm {}: guid {} mdev {} recorded in the domain definition{}", vm.name.str(), a.guid.to_string(),
                  a.mdev.to_string(), a.persistent ? " (persistent)" : "");
    return {};
}

Result<void> LibvirtHotplug::forget(const core::VmRecord& vm, const core::Assignment& a)
{
    auto domain = open_domain(connection(), vm);
    if (!domain) {
        return domain.error().code == errc::vm_not_found ? Result<void>() : Result<void>(domain.error());
    }
    auto flags = flags_of(domain->get(), vm);
    if (!flags) {
        return flags.error();
    }
    const auto remove = [&](const Devices& devices) { return domain_xml::without_device(devices, a.guid); };
    if (flags->active) {
        if (auto r = update_metadata(domain->get(), vm, VIR_DOMAIN_AFFECT_LIVE, remove); !r) {
            return r;
        }
    }
    if (!flags->persistent) {
        return {};
    }
    if (auto r = update_metadata(domain->get(), vm, VIR_DOMAIN_AFFECT_CONFIG, remove); !r) {
        return r;
    }
    auto defined = defines_hostdev(domain->get(), vm, a.mdev);
    if (!defined) {
        return defined.error();
    }
    if (*defined) {
        // libvirt finds the hostdev to remove by its source.
        const std::string hostdev = "<hostdev mode='subsystem' type='mdev' model='vfio-pci'><source><address uuid='" +
                                    a.mdev.to_string() + "'/></source></hostdev>";
        if (virDomainDetachDeviceFlags(domain->get(), hostdev.c_str(), VIR_DOMAIN_AFFECT_CONFIG) < 0) {
            return libvirt_error(vm, "cannot remove mdev " + a.mdev.to_string() + " from the persistent definition");
        }
    }
    return {};
}

Result<std::vector<core::DeclaredVm>> LibvirtHotplug::declared_vms()
{
    auto connected = connection();
    if (!connected) {
        return connected.error();
    }
    virDomainPtr* domains = nullptr;
    const int count = virConnectListAllDomains(connected->get(), &domains, VIR_CONNECT_LIST_DOMAINS_PERSISTENT);
    if (count < 0) {
        return make_error(errc::libvirt_error, "cannot list libvirt domains: " + last_libvirt_error());
    }
    std::vector<Domain> owned;
    for (int i = 0; i < count; ++i) {
        owned.emplace_back(domains[i]);
    }
    std::free(domains);
    std::vector<core::DeclaredVm> declared;
    for (const auto& domain : owned) {
        auto name = VmId::parse(virDomainGetName(domain.get()));
        if (!name) {
            continue;  // hyv cannot name it, so it cannot manage it either
        }
        core::VmRecord vm;
        vm.name = *name;
        vm.kind = VmKind::libvirt;
        auto devices = read_metadata(domain.get(), vm, VIR_DOMAIN_AFFECT_CONFIG);
        if (!devices) {
            spdlog::warn("vm {}: hyv metadata not adopted: {}", vm.name.str(), devices.error().message);
            continue;
        }
        if (devices->empty()) {
            continue;
        }
        core::DeclaredVm entry{vm, {}};
        for (const auto& device : *devices) {
            entry.devices.push_back(core::DeclaredDevice{device.guid, device.mdev, device.quota, device.identity});
        }
        declared.push_back(std::move(entry));
    }
    return declared;
}

}  // namespace hyv::adapters
