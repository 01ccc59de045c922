// LibvirtHotplug's connection and its event subscriptions: lifecycle and device-removed events of
// every domain, and the close callback that tells a restarted libvirtd. Callbacks run on libvirt's
// event thread (libvirt_support.cpp) and only hand a short description to hyvd's callback.
#include "hyvd/adapters/libvirt_hotplug.hpp"

#include "hyvd/adapters/libvirt_support.hpp"
#include "hyv/error_codes.hpp"

#include <spdlog/spdlog.h>

namespace hyv::adapters {

using namespace libvirt_support;

namespace {

const char* lifecycle_name(int event, int detail)
{
    switch (event) {
    case VIR_DOMAIN_EVENT_DEFINED: return "defined";
    case VIR_DOMAIN_EVENT_UNDEFINED: return "undefined";
    case VIR_DOMAIN_EVENT_STARTED: return "started";
    case VIR_DOMAIN_EVENT_STOPPED: return detail == VIR_DOMAIN_EVENT_STOPPED_CRASHED ? "crashed" : "stopped";
    case VIR_DOMAIN_EVENT_CRASHED: return "crashed";
    default: return nullptr;  // suspended, resumed, pm...: nothing hyv cares about
    }
}

std::string domain_name(virDomainPtr domain)
{
    const char* name = domain != nullptr ? virDomainGetName(domain) : nullptr;
    return name != nullptr ? name : "";
}

int on_lifecycle(virConnectPtr, virDomainPtr domain, int event, int detail, void* opaque)
{
    const auto& callback = *static_cast<LibvirtHotplug::EventCallback*>(opaque);
    if (const char* what = lifecycle_name(event, detail); what != nullptr && callback) {
        callback(domain_name(domain), what);
    }
    return 0;
}

void on_device_removed(virConnectPtr, virDomainPtr domain, const char*, void* opaque)
{
    if (const auto& callback = *static_cast<LibvirtHotplug::EventCallback*>(opaque)) {
        callback(domain_name(domain), "device-removed");
    }
}

void on_close(virConnectPtr, int reason, void* opaque)
{
    spdlog::warn("libvirt: connection closed (reason {}); reconnecting", reason);
    if (const auto& callback = *static_cast<LibvirtHotplug::EventCallback*>(opaque)) {
        callback("", "connection-lost");
    }
}

}  // namespace

bool LibvirtHotplug::unreachable(const Error& error) const
{
    return error.code == errc::libvirt_connect;
}

Result<LibvirtHotplug::Connection> LibvirtHotplug::connection()
{
    std::lock_guard lock(mutex_);
    if (connection_ && virConnectIsAlive(connection_.get()) == 1) {
        return connection_;
    }
    virConnectPtr opened = virConnectOpen(options_.uri.c_str());
    if (opened == nullptr) {
        return make_error(errc::libvirt_connect, "cannot connect to libvirt at " + options_.uri + ": " +
                                                     last_libvirt_error() + "; is libvirtd running?");
    }
    // Keeps the connection alive and detects a dead libvirtd, served by the event loop thread.
    constexpr int kKeepaliveIntervalS = 5;
    constexpr unsigned kKeepaliveCount = 3;
    virConnectSetKeepAlive(opened, kKeepaliveIntervalS, kKeepaliveCount);
    unsubscribe();
    connection_ = Connection(opened, [](virConnectPtr c) { virConnectClose(c); });
    if (callback_) {
        subscribe(opened);
        // What happened while hyvd was not connected is only known by looking again.
        callback_("", "connected");
    }
    return connection_;
}

void LibvirtHotplug::subscribe(virConnectPtr connection)
{
    auto* opaque = &callback_;  // lives as long as this adapter; deregistered in the destructor
    const int lifecycle = virConnectDomainEventRegisterAny(connection, nullptr, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                                                           VIR_DOMAIN_EVENT_CALLBACK(on_lifecycle), opaque, nullptr);
    const int removed = virConnectDomainEventRegisterAny(connection, nullptr, VIR_DOMAIN_EVENT_ID_DEVICE_REMOVED,
                                                         VIR_DOMAIN_EVENT_CALLBACK(on_device_removed), opaque, nullptr);
    for (const int id : {lifecycle, removed}) {
        if (id < 0) {
            spdlog::warn("libvirt: cannot subscribe to domain events ({}); hyvd reconciles only on `hyvctl "
                         "reconcile` and restarts",
                         last_libvirt_error());
        } else {
            callback_ids_.push_back(id);
        }
    }
    close_callback_registered_ = virConnectRegisterCloseCallback(connection, on_close, opaque, nullptr) == 0;
}

void LibvirtHotplug::unsubscribe()
{
    if (!connection_) {
        return;
    }
    for (const int id : callback_ids_) {
        // Fails on a connection libvirtd already dropped; the registration died with it.
        if (virConnectDomainEventDeregisterAny(connection_.get(), id) < 0) {
            spdlog::debug("libvirt: event callback {} not deregistered: {}", id, last_libvirt_error());
        }
    }
    callback_ids_.clear();
    if (close_callback_registered_) {
        virConnectUnregisterCloseCallback(connection_.get(), on_close);
        close_callback_registered_ = false;
    }
}

Result<void> LibvirtHotplug::watch(EventCallback callback)
{
    {
        std::lock_guard lock(mutex_);
        unsubscribe();
        connection_.reset();  // the next connection() subscribes
        callback_ = std::move(callback);
    }
    if (!callback_) {
        return {};  // stopped watching
    }
    return keep_watching();
}

Result<void> LibvirtHotplug::keep_watching()
{
    auto connected = connection();
    if (!connected) {
        return connected.error();
    }
    return {};
}

}  // namespace hyv::adapters
