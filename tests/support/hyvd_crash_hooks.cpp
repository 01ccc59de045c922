// Port hooks of `hyvd-crashpoints`, the real hyvd linked with crash points around its real
// adapters (sqlite, sysfs mdevs, QMP/libvirt). HYV_CRASH_AT_STEP=N makes the daemon SIGKILL
// itself at the N-th step counted from the moment it serves the API (start-up reconcile is not
// counted); every step is logged as "crash point N: WHAT" (", after" appended for the step after a
// call's effect, ", in transaction" inside a store transaction) so a test knows how many there are.
// HYV_CRASH_AT_POINT=NAME:K instead dies at the K-th step called NAME ("hypervisor.hot_add:2": just
// after the hot-add took effect). HYV_CRASH_ARM=SIGUSR1 counts from the first SIGUSR1 instead, so
// that a test can first let the reconciles that follow start-up in the background pass (libvirt's
// "connected" one). Never installed: tests/vm/daemon_guest.sh and tests/vm/libvirt_domain.sh use it.
#include "hyvd/port_hooks.hpp"

#include "crash_points.hpp"

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <string>
#include <tuple>
#include <utility>
#include <unistd.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace hyv::daemon {
namespace {

// The whole of `text` as a number >= 0, or -1.
int whole_number(const std::string& text)
{
    try {
        std::size_t used = 0;
        const int number = std::stoi(text, &used);
        return used == text.size() && number >= 0 ? number : -1;
    } catch (const std::exception&) {
        return -1;
    }
}

int crash_step_from_environment()
{
    const char* text = std::getenv("HYV_CRASH_AT_STEP");
    if (text == nullptr || *text == '\0') {
        return 0;
    }
    if (const int step = whole_number(text); step >= 0) {
        return step;
    }
    fmt::print(stderr, "hyvd-crashpoints: HYV_CRASH_AT_STEP={} is not a step number; use 0 (never) or N >= 1\n", text);
    std::exit(2);
}

std::atomic<bool>* armed_by_signal = nullptr;

void arm_on_signal(int)
{
    if (armed_by_signal != nullptr) {
        armed_by_signal->store(true);
    }
}

// HYV_CRASH_AT_POINT=NAME:K -> (NAME, K); unset -> ("", 1).
std::pair<std::string, int> crash_point_from_environment()
{
    const char* text = std::getenv("HYV_CRASH_AT_POINT");
    if (text == nullptr || *text == '\0') {
        return {"", 1};
    }
    const std::string spec(text);
    const auto colon = spec.rfind(':');
    if (colon != std::string::npos && colon > 0) {
        if (const int occurrence = whole_number(spec.substr(colon + 1)); occurrence >= 1) {
            return {spec.substr(0, colon), occurrence};
        }
    }
    fmt::print(stderr, "hyvd-crashpoints: HYV_CRASH_AT_POINT={} is not NAME:K (e.g. hypervisor.hot_add:2)\n", text);
    std::exit(2);
}

bool arm_on_sigusr1_from_environment()
{
    const char* text = std::getenv("HYV_CRASH_ARM");
    if (text == nullptr || *text == '\0') {
        return false;
    }
    if (std::string(text) == "SIGUSR1") {
        return true;
    }
    fmt::print(stderr, "hyvd-crashpoints: HYV_CRASH_ARM={} is not understood; leave it unset or use SIGUSR1\n", text);
    std::exit(2);
}

class CrashHooks final : public PortHooks {
public:
    explicit CrashHooks(core::Ports& ports)
    {
        plan_.crash_at = crash_step_from_environment();
        std::tie(plan_.crash_at_point, plan_.crash_at_occurrence) = crash_point_from_environment();
        plan_.armed = false;
        plan_.observe = [](int step, const char* what, test::CrashPlan::Where where) {
            spdlog::warn("crash point {}: {}{}{}", step, what, where.after_effect ? ", after" : "",
                         where.in_transaction ? ", in transaction" : "");
        };
        plan_.crash = [](int step) {
            spdlog::warn("crash point {}: SIGKILL", step);
            spdlog::default_logger()->flush();
            ::kill(::getpid(), SIGKILL);
        };
        store_ = std::make_unique<test::CrashingStore>(*ports.store, plan_);
        ports.store = store_.get();
        mdev_ = std::make_unique<test::CrashingMdevControl>(*ports.mdev, plan_);
        ports.mdev = mdev_.get();
        if (ports.identity != nullptr) {
            identity_ = std::make_unique<test::CrashingNetIdentity>(*ports.identity, plan_);
            ports.identity = identity_.get();
        }
        for (auto& [kind, hypervisor] : ports.hypervisors) {
            hypervisors_.push_back(std::make_unique<test::CrashingHypervisor>(*hypervisor, plan_));
            hypervisor = hypervisors_.back().get();
        }
    }

    void serving() override
    {
        if (arm_on_sigusr1_from_environment()) {
            static_assert(std::atomic<bool>::is_always_lock_free, "stored from a signal handler");
            armed_by_signal = &plan_.armed;
            std::signal(SIGUSR1, arm_on_signal);
            spdlog::warn("crash points armed by SIGUSR1: SIGKILL at step {} / point {}:{} counted from then",
                         plan_.crash_at, plan_.crash_at_point, plan_.crash_at_occurrence);
            return;
        }
        spdlog::warn("crash points armed: SIGKILL at step {} / point {}:{}", plan_.crash_at, plan_.crash_at_point,
                     plan_.crash_at_occurrence);
        plan_.armed = true;
    }

private:
    test::CrashPlan plan_;
    std::unique_ptr<test::CrashingStore> store_;
    std::unique_ptr<test::CrashingMdevControl> mdev_;
    std::unique_ptr<test::CrashingNetIdentity> identity_;
    std::vector<std::unique_ptr<test::CrashingHypervisor>> hypervisors_;
};

}  // namespace

std::unique_ptr<PortHooks> install_port_hooks(core::Ports& ports)
{
    return std::make_unique<CrashHooks>(ports);
}

}  // namespace hyv::daemon
