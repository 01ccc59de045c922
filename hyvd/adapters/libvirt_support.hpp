// Internals shared by the libvirt adapter's files (libvirt_hotplug.cpp: hot-plug; libvirt_definition.cpp:
// the domain definition; libvirt_events.cpp: lifecycle events). RAII for libvirt objects and errors.
#pragma once

#include "hyvd/core/ports.hpp"

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include <cstdlib>
#include <memory>
#include <string>

namespace hyv::adapters::libvirt_support {

struct DomainDeleter {
    void operator()(virDomainPtr domain) const { virDomainFree(domain); }
};
using Domain = std::unique_ptr<virDomain, DomainDeleter>;

struct FreeDeleter {
    void operator()(char* text) const { std::free(text); }
};
using CString = std::unique_ptr<char, FreeDeleter>;

std::string last_libvirt_error();
int last_libvirt_code();
// "libvirt-error": "VM <name>: <what>: <libvirt's message>".
Error libvirt_error(const core::VmRecord& vm, const std::string& what);

// libvirt's default event loop, registered and run on a thread of its own, once per process.
void ensure_event_loop();

// The domain of `vm` (by uuid when known); "vm-not-found" when libvirt has none.
Result<Domain> lookup(virConnectPtr connection, const core::VmRecord& vm);
// lookup() on a connection that may have failed to open: one error path for both.
Result<Domain> open_domain(const Result<std::shared_ptr<virConnect>>& connected, const core::VmRecord& vm);

// Domain XML; `flags` as for virDomainGetXMLDesc (VIR_DOMAIN_XML_INACTIVE: the persistent definition).
Result<std::string> domain_xml(virDomainPtr domain, const core::VmRecord& vm, unsigned int flags = 0);

}  // namespace hyv::adapters::libvirt_support
