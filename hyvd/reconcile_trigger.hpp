// Runs core::Service::reconcile() when something outside hyvd changed (a libvirt domain started,
// stopped, crashed, was (re)defined, lost a device; libvirtd restarted), so the database follows
// reality without polling. Requests arriving close together are served by one reconcile. A tick
// every `tick_interval` runs `on_tick` (hyvd: reconnect to a restarted libvirtd).
#pragma once

#include "hyvd/core/service.hpp"

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <thread>

namespace hyv::daemon {

// Logs a reconcile's actions (info), problems (warn) and notes (debug), one line each.
void log_reconcile(const core::ReconcileReport& report);

class ReconcileTrigger {
public:
    ReconcileTrigger(core::Service& service, std::function<void()> on_tick, std::chrono::milliseconds tick_interval);
    ~ReconcileTrigger();
    ReconcileTrigger(const ReconcileTrigger&) = delete;
    ReconcileTrigger& operator=(const ReconcileTrigger&) = delete;

    // Thread-safe and non-blocking (called from libvirt's event thread).
    void request(const std::string& why);

private:
    void loop();

    core::Service& service_;
    std::function<void()> on_tick_;
    std::chrono::milliseconds tick_interval_;
    std::mutex mutex_;
    std::condition_variable changed_;
    std::set<std::string> reasons_;
    bool stopping_ = false;
    std::thread thread_;
};

}  // namespace hyv::daemon
