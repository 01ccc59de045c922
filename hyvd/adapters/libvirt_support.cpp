#include "hyvd/adapters/libvirt_support.hpp"

#include "hyv/error_codes.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <mutex>
#include <thread>

namespace hyv::adapters::libvirt_support {

namespace {

// Wakes the event loop now and then; libvirt's default loop otherwise sleeps until an fd is ready.
constexpr int kEventLoopTickMs = 1000;

void ignore_libvirt_error(void*, virErrorPtr) {}

}  // namespace

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

Error libvirt_error(const core::VmRecord& vm, const std::string& what)
{
    return make_error(errc::libvirt_error, "VM " + vm.name.str() + ": " + what + ": " + last_libvirt_error());
}

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
        virEventAddTimeout(
            kEventLoopTickMs, [](int, void*) {}, nullptr, nullptr);
        std::thread([] {
            while (true) {
                if (virEventRunDefaultImpl() < 0) {
                    std::this_thread::sleep_for(std::chrono::milliseconds(kEventLoopTickMs));
                }
            }
        }).detach();
    });
}

Result<Domain> lookup(virConnectPtr connection, const core::VmRecord& vm)
{
    virDomainPtr domain = vm.uuid.empty() ? virDomainLookupByName(connection, vm.name.str().c_str())
                                          : virDomainLookupByUUIDString(connection, vm.uuid.c_str());
    if (domain == nullptr) {
        if (last_libvirt_code() == VIR_ERR_NO_DOMAIN) {
            return make_error(errc::vm_not_found, "libvirt has no domain " + vm.name.str() +
                                                      (vm.uuid.empty() ? "" : " (uuid " + vm.uuid + ")") +
                                                      "; check `virsh list --all`");
        }
        return libvirt_error(vm, "domain lookup failed");
    }
    return Domain(domain);
}

Result<Domain> open_domain(const Result<std::shared_ptr<virConnect>>& connected, const core::VmRecord& vm)
{
    if (!connected) {
        return connected.error();
    }
    return lookup(connected->get(), vm);
}

Result<std::string> domain_xml(virDomainPtr domain, const core::VmRecord& vm, unsigned int flags)
{
    CString xml(virDomainGetXMLDesc(domain, flags));
    if (!xml) {
        return libvirt_error(vm, (flags & VIR_DOMAIN_XML_INACTIVE) != 0 ? "cannot read the persistent domain XML"
                                                                        : "cannot read the live domain XML");
    }
    return std::string(xml.get());
}

}  // namespace hyv::adapters::libvirt_support
