#include "hyvd/reconcile_trigger.hpp"

#include <spdlog/spdlog.h>

namespace hyv::daemon {

namespace {
// Events come in bursts (stopped + undefined, defined after our own edit): wait this long for the rest.
constexpr auto kSettle = std::chrono::milliseconds(300);
}  // namespace

void log_reconcile(const core::ReconcileReport& report)
{
    for (const auto& action : report.actions) {
        spdlog::info("reconcile op {}: vm {} guid {} mdev {}: {}", report.op_id, action.vm.str(),
                     action.guid.to_string(), action.mdev.to_string(), action.what);
    }
    for (const auto& uuid : report.orphan_mdevs_removed) {
        spdlog::info("reconcile op {}: removed orphan mdev {}", report.op_id, uuid.to_string());
    }
    for (const auto& link : report.orphan_links_removed) {
        spdlog::info("reconcile op {}: removed orphan identity link {}", report.op_id, link);
    }
    for (const auto& problem : report.problems) {
        spdlog::warn("reconcile op {}: {}", report.op_id, problem);
    }
    for (const auto& note : report.notes) {
        spdlog::debug("reconcile op {}: {}", report.op_id, note);
    }
}

ReconcileTrigger::ReconcileTrigger(core::Service& service, std::function<void()> on_tick,
                                   std::chrono::milliseconds tick_interval)
    : service_(service), on_tick_(std::move(on_tick)), tick_interval_(tick_interval), thread_([this] { loop(); })
{
}

ReconcileTrigger::~ReconcileTrigger()
{
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    changed_.notify_all();
    thread_.join();
}

void ReconcileTrigger::request(const std::string& why)
{
    {
        std::lock_guard lock(mutex_);
        reasons_.insert(why);
    }
    changed_.notify_all();
}

void ReconcileTrigger::loop()
{
    std::unique_lock lock(mutex_);
    while (!stopping_) {
        if (!changed_.wait_for(lock, tick_interval_, [this] { return stopping_ || !reasons_.empty(); })) {
            lock.unlock();
            on_tick_();
            lock.lock();
            continue;
        }
        if (stopping_) {
            break;
        }
        changed_.wait_for(lock, kSettle, [this] { return stopping_; });
        std::string why;
        for (const auto& reason : reasons_) {
            why += (why.empty() ? "" : ", ") + reason;
        }
        reasons_.clear();
        lock.unlock();
        spdlog::debug("reconcile after: {}", why);
        auto report = service_.reconcile();
        if (report) {
            log_reconcile(*report);
        } else {
            spdlog::warn("reconcile after {} failed: {}; retried at the next event or `hyvctl reconcile`", why,
                         report.error().message);
        }
        lock.lock();
    }
}

}  // namespace hyv::daemon
