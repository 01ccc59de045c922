// The libvirt qemu hook's logic (docs/libvirt.md), separate from main.cpp so unit tests drive it with
// a fake mdev sysfs. libvirt runs /etc/libvirt/hooks/qemu DOMAIN OPERATION SUB-OPERATION - with the
// domain XML on stdin, synchronously inside libvirtd: so the hook never calls libvirt (deadlock) nor
// hyvd (it must work while hyvd is down); it acts on sysfs only, and hyvd learns what happened from
// libvirt's lifecycle events or its next reconcile.
//   prepare  (before QEMU starts): create every mdev the domain's <hyv:devices> names that is missing,
//            on the hyv_mdev parent of its GUID; refuse the start with one line when it cannot.
//   release  (after QEMU is gone): remove the domain's hyv mdevs.
//   migrate  (incoming migration): refuse a domain with hyv devices.
//   reconnect (libvirtd restarted, domain still running): nothing to change; never fails, because
//            libvirt kills a domain whose reconnect hook fails.
#pragma once

#include "hyvd/core/ports.hpp"

#include <functional>
#include <optional>
#include <string>

namespace hyv::hook {

struct Request {
    std::string domain;     // argv[1]
    std::string operation;  // argv[2]: prepare, start, started, stopped, release, migrate, restore, reconnect, attach
    std::string sub_operation;  // argv[3]: begin, end, -
    std::string xml;            // stdin
};

struct Outcome {
    int exit_code = 0;
    std::string message;  // for stderr; libvirt puts it in the error of a refused start/migration
};

// The hyv_mdev parent (sysfs path, mdev type) serving a GUID, if any.
struct Parent {
    std::string path;
    std::string type;
};
using ParentLookup = std::function<std::optional<Parent>(const Guid&)>;

Outcome run(const Request& request, core::MdevControl& mdevs, const ParentLookup& parent_of);

}  // namespace hyv::hook
