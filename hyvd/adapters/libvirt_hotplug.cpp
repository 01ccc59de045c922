#include "hyvd/adapters/libvirt_hotplug.hpp"

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <libxml/parser.h>
#include <libxml/xpath.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <condition_variable>
#include <cstdlib>
#include <set>
#include <thread>

namespace hyv::adapters {

namespace {

using core::PresentDevice;
using core::VmRecord;

constexpr std::string_view kUserAliasPrefix = "ua-";
constexpr auto kRemovalPollSlice = std::chrono::milliseconds(250);
// Wakes the event loop now and then; libvirt's default loop otherwise sleeps until an fd is ready.
constexpr int kEventLoopTickMs = 1000;

struct DomainDeleter {
    void operator()(virDomainPtr domain) const { virDomainFree(domain); }
};
using Domain = std::unique_ptr<virDomain, DomainDeleter>;

struct FreeDeleter {
    void operator()(char* text) const { std::free(text); }
};
using CString = std::unique_ptr<char, FreeDeleter>;

struct XmlDocDeleter {
    void operator()(xmlDocPtr doc) const { xmlFreeDoc(doc); }
};
struct XPathContextDeleter {
    void operator()(xmlXPathContextPtr context) const { xmlXPathFreeContext(context); }
};
struct XPathObjectDeleter {
    void operator()(xmlXPathObjectPtr object) const { xmlXPathFreeObject(object); }
};

std::string last_libvirt_error()
{
    const char* message = virGetLastErrorMessage();
    return message != nullptr ? message : "unknown libvirt error";
}

int last_libvirt_code()
{
    virErrorPtr error = virGetLastError();
    return error != nullptr ? error->code : VIR_ERR_OK;
}

Error libvirt_error(const VmRecord& vm, const std::string& what)
{
    return make_error("libvirt-error", "VM " + vm.name.str() + ": " + what + ": " + last_libvirt_error());
}

void ignore_libvirt_error(void*, virErrorPtr) {}

// libvirt needs its event implementation registered before any connection is opened, once per process.
void ensure_event_loop()
{
    static std::once_flag once;
    std::call_once(once, [] {
        virSetErrorFunc(nullptr, ignore_libvirt_error);  // errors are returned, not printed
        if (virEventRegisterDefaultImpl() < 0) {
            spdlog::warn("libvirt: cannot register the default event loop ({}); detach falls back to polling",
                         last_libvirt_error());
            return;
        }
        virEventAddTimeout(kEventLoopTickMs, [](int, void*) {}, nullptr, nullptr);
        std::thread([] {
            while (true) {
                if (virEventRunDefaultImpl() < 0) {
                    std::this_thread::sleep_for(std::chrono::milliseconds(kEventLoopTickMs));
                }
            }
        }).detach();
    });
}

std::string attribute(xmlNodePtr node, const char* name)
{
    xmlChar* value = xmlGetProp(node, reinterpret_cast<const xmlChar*>(name));
    if (value == nullptr) {
        return {};
    }
    std::string text(reinterpret_cast<const char*>(value));
    xmlFree(value);
    return text;
}

xmlNodePtr first_child(xmlNodePtr node, std::string_view name)
{
    for (xmlNodePtr child = node != nullptr ? node->children : nullptr; child != nullptr; child = child->next) {
        if (child->type == XML_ELEMENT_NODE && name == reinterpret_cast<const char*>(child->name)) {
            return child;
        }
    }
    return nullptr;
}

// <address type='pci' domain='0x0000' bus='0x01' slot='0x00' function='0x0'/> -> "0000:01:00.0"
std::string pci_address_of(xmlNodePtr device)
{
    for (xmlNodePtr child = device->children; child != nullptr; child = child->next) {
        if (child->type != XML_ELEMENT_NODE || std::string_view("address") != reinterpret_cast<const char*>(child->name) ||
            attribute(child, "type") != "pci") {
            continue;
        }
        const auto number = [&](const char* name) { return std::strtoul(attribute(child, name).c_str(), nullptr, 0); };
        return fmt::format("{:04x}:{:02x}:{:02x}.{:x}", number("domain"), number("bus"), number("slot"),
                           number("function"));
    }
    return {};
}

template <typename Visit>
Result<void> for_each_device(const std::string& xml, const char* xpath, Visit visit)
{
    std::unique_ptr<xmlDoc, XmlDocDeleter> doc(
        xmlReadMemory(xml.data(), static_cast<int>(xml.size()), "domain.xml", nullptr, XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING));
    if (!doc) {
        return make_error("libvirt-xml", "libvirt returned domain XML that does not parse");
    }
    std::unique_ptr<xmlXPathContext, XPathContextDeleter> context(xmlXPathNewContext(doc.get()));
    std::unique_ptr<xmlXPathObject, XPathObjectDeleter> found(
        context ? xmlXPathEvalExpression(reinterpret_cast<const xmlChar*>(xpath), context.get()) : nullptr);
    if (!found) {
        return make_error("libvirt-xml", std::string("cannot evaluate ") + xpath + " on the domain XML");
    }
    if (found->nodesetval != nullptr) {
        for (int i = 0; i < found->nodesetval->nodeNr; ++i) {
            visit(found->nodesetval->nodeTab[i]);
        }
    }
    return {};
}

Result<Domain> lookup(virConnectPtr connection, const VmRecord& vm)
{
    virDomainPtr domain = vm.uuid.empty() ? virDomainLookupByName(connection, vm.name.str().c_str())
                                          : virDomainLookupByUUIDString(connection, vm.uuid.c_str());
    if (domain == nullptr) {
        if (last_libvirt_code() == VIR_ERR_NO_DOMAIN) {
            return make_error("vm-not-found", "libvirt has no domain " + vm.name.str() +
                                                  (vm.uuid.empty() ? "" : " (uuid " + vm.uuid + ")") +
                                                  "; check `virsh list --all`");
        }
        return libvirt_error(vm, "domain lookup failed");
    }
    return Domain(domain);
}

Result<std::string> live_xml(virDomainPtr domain, const VmRecord& vm)
{
    CString xml(virDomainGetXMLDesc(domain, 0));
    if (!xml) {
        return libvirt_error(vm, "cannot read the live domain XML");
    }
    return std::string(xml.get());
}

struct RemovalWaiter {
    std::mutex mutex;
    std::condition_variable removed_changed;
    std::set<std::string> removed_aliases;
};

void on_device_removed(virConnectPtr, virDomainPtr, const char* alias, void* opaque)
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
                                               VIR_DOMAIN_EVENT_CALLBACK(on_device_removed), opaque, free_waiter);
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

std::string LibvirtHotplug::alias_for(const std::string& qdev_id)
{
    return qdev_id.rfind(kUserAliasPrefix, 0) == 0 ? qdev_id : std::string(kUserAliasPrefix) + qdev_id;
}

Result<std::vector<LibvirtDeviceInfo>> mdev_hostdevs_in_domain_xml(const std::string& xml)
{
    std::vector<LibvirtDeviceInfo> devices;
    auto walked = for_each_device(xml, "/domain/devices/hostdev[@type='mdev']", [&](xmlNodePtr hostdev) {
        LibvirtDeviceInfo info;
        info.alias = attribute(first_child(hostdev, "alias"), "name");
        info.mdev_uuid = attribute(first_child(first_child(hostdev, "source"), "address"), "uuid");
        info.pci_address = pci_address_of(hostdev);
        devices.push_back(std::move(info));
    });
    if (!walked) {
        return walked.error();
    }
    return devices;
}

Result<bool> domain_xml_has_alias(const std::string& xml, const std::string& alias)
{
    bool found = false;
    auto walked = for_each_device(xml, "/domain/devices/*/alias", [&](xmlNodePtr node) {
        found = found || attribute(node, "name") == alias;
    });
    if (!walked) {
        return walked.error();
    }
    return found;
}

LibvirtHotplug::LibvirtHotplug(LibvirtHotplugOptions options) : options_(std::move(options))
{
    ensure_event_loop();
}

LibvirtHotplug::~LibvirtHotplug() = default;

Result<LibvirtHotplug::Connection> LibvirtHotplug::connection()
{
    std::lock_guard lock(mutex_);
    if (connection_ && virConnectIsAlive(connection_.get()) == 1) {
        return connection_;
    }
    virConnectPtr opened = virConnectOpen(options_.uri.c_str());
    if (opened == nullptr) {
        return make_error("libvirt-connect", "cannot connect to libvirt at " + options_.uri + ": " +
                                                 last_libvirt_error() + "; is libvirtd running?");
    }
    // Keeps the connection alive and detects a dead libvirtd, served by the event loop thread.
    constexpr int kKeepaliveIntervalS = 5;
    constexpr unsigned kKeepaliveCount = 3;
    virConnectSetKeepAlive(opened, kKeepaliveIntervalS, kKeepaliveCount);
    connection_ = Connection(opened, [](virConnectPtr c) { virConnectClose(c); });
    return connection_;
}

Result<bool> LibvirtHotplug::is_running(const VmRecord& vm)
{
    auto connected = connection();
    if (!connected) {
        return connected.error();
    }
    auto domain = lookup(connected->get(), vm);
    if (!domain) {
        if (domain.error().code == "vm-not-found") {
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
    auto connected = connection();
    if (!connected) {
        return connected.error();
    }
    auto domain = lookup(connected->get(), vm);
    if (!domain) {
        return domain.error();
    }
    const std::string alias = alias_for(qdev_id);
    // uuid and alias are validated types / our own ids: nothing here needs XML escaping.
    const std::string xml = fmt::format(
        "<hostdev mode='subsystem' type='mdev' model='vfio-pci' managed='no'>"
        "<source><address uuid='{}'/></source><alias name='{}'/></hostdev>",
        mdev.to_string(), alias);
    if (virDomainAttachDeviceFlags(domain->get(), xml.c_str(), VIR_DOMAIN_AFFECT_LIVE) < 0) {
        return make_error("libvirt-attach-failed", "VM " + vm.name.str() + ": libvirt refused to attach mdev " +
                                                       mdev.to_string() + ": " + last_libvirt_error());
    }
    spdlog::info("vm {}: attached mdev {} as {}", vm.name.str(), mdev.to_string(), alias);
    auto xml_now = live_xml(domain->get(), vm);
    if (!xml_now) {
        return xml_now.error();
    }
    auto hostdevs = mdev_hostdevs_in_domain_xml(*xml_now);
    if (!hostdevs) {
        return hostdevs.error();
    }
    for (const auto& hostdev : *hostdevs) {
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
    const std::string alias = alias_for(qdev_id);
    const auto still_there = [&]() -> Result<bool> {
        auto xml = live_xml(domain->get(), vm);
        if (!xml) {
            return xml.error();
        }
        return domain_xml_has_alias(*xml, alias);
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
            return make_error("libvirt-detach-failed",
                              "VM " + vm.name.str() + ": libvirt refused to detach " + alias + ": " + reason);
        }
    }
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
        {
            std::unique_lock lock(waiter->mutex);
            const auto slice_end = std::min(deadline, std::chrono::steady_clock::now() + kRemovalPollSlice);
            if (waiter->removed_changed.wait_until(lock, slice_end, [&] { return waiter->removed_aliases.count(alias) != 0; })) {
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
            return make_error("hot-remove-timeout",
                              "VM " + vm.name.str() + " did not release " + alias + " within " +
                                  std::to_string(timeout.count()) +
                                  " ms; the guest OS must acknowledge PCIe hot-unplug (is it booted and not hung?); "
                                  "the request stays pending, retry the detach later");
        }
    }
}

Result<std::vector<PresentDevice>> LibvirtHotplug::list_hyv_devices(const VmRecord& vm)
{
    auto connected = connection();
    if (!connected) {
        return connected.error();
    }
    auto domain = lookup(connected->get(), vm);
    if (!domain) {
        return domain.error();
    }
    auto xml = live_xml(domain->get(), vm);
    if (!xml) {
        return xml.error();
    }
    auto hostdevs = mdev_hostdevs_in_domain_xml(*xml);
    if (!hostdevs) {
        return hostdevs.error();
    }
    std::vector<PresentDevice> present;
    for (const auto& hostdev : *hostdevs) {
        auto uuid = MdevUuid::parse(hostdev.mdev_uuid);
        if (!uuid) {
            continue;
        }
        // Our aliases are "ua-<qdev_id>"; report the qdev_id so it matches what the core stored.
        std::string qdev_id = hostdev.alias;
        if (qdev_id.rfind(kUserAliasPrefix, 0) == 0) {
            qdev_id.erase(0, kUserAliasPrefix.size());
        }
        present.push_back({qdev_id, *uuid, hostdev.pci_address});
    }
    return present;
}

}  // namespace hyv::adapters
