// Crash safety: kill hyvd (a forked child running the real service over the real sqlite
// file) at every step of attach and detach, then start a fresh service over the same
// file and sysfs/QEMU reality, run reconcile, and require a consistent result.
#include "core_service_fixture.hpp"

#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <functional>

namespace hyv::test {
namespace {

using S = AssignmentState;
using Operation = std::function<bool(Daemon&)>;

enum class ChildOutcome { crashed, completed, failed };

ChildOutcome run_in_child(const fs::path& root, int crash_at, const Operation& operation)
{
    const pid_t pid = fork();
    if (pid == 0) {
        spdlog::set_level(spdlog::level::off);
        Daemon daemon(root, crash_at, /*crash_store=*/true);
        const bool ok = operation(daemon);
        _exit(ok ? 0 : 1);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status)) {
        ADD_FAILURE() << "child died by signal " << WTERMSIG(status);
        return ChildOutcome::failed;
    }
    switch (WEXITSTATUS(status)) {
    case 0: return ChildOutcome::completed;
    case CrashPlan::crash_exit_code: return ChildOutcome::crashed;
    default: return ChildOutcome::failed;
    }
}

struct Scenario {
    std::string name;
    std::function<void(Daemon&)> prepare;  // runs without crashes, before the child
    Operation operation;
    std::set<std::size_t> allowed_row_counts;  // after reconcile
};

void crash_at_every_step(const Scenario& scenario)
{
    int crash_at = 1;
    int crashes = 0;
    for (;; ++crash_at) {
        SCOPED_TRACE(scenario.name + ": crash at step " + std::to_string(crash_at));
        TempDir dir;
        {
            Daemon setup(dir.path());
            add_running_vm(setup, "vm1");
            scenario.prepare(setup);
        }  // closed before fork: the child must be the only process holding the database

        const ChildOutcome outcome = run_in_child(dir.path(), crash_at, scenario.operation);
        ASSERT_NE(outcome, ChildOutcome::failed) << "the operation failed without an injected crash";

        Daemon restarted(dir.path());
        auto report = restarted.service->reconcile();
        ASSERT_TRUE(report.ok()) << report.error().message;
        EXPECT_TRUE(report->problems.empty()) << report->problems.front();
        expect_consistent(restarted);
        auto rows = restarted.service->list();
        ASSERT_TRUE(rows.ok());
        EXPECT_TRUE(scenario.allowed_row_counts.count(rows->size())) << rows->size() << " rows";

        auto second = restarted.service->reconcile();
        ASSERT_TRUE(second.ok());
        EXPECT_TRUE(second->actions.empty()) << "reconcile is not idempotent: " << second->actions.front().what;
        EXPECT_TRUE(second->orphan_mdevs_removed.empty());

        // The system is usable again: the pair can be detached (if present) and attached.
        if (!rows->empty() && (*rows)[0].state == S::attached) {
            EXPECT_TRUE(restarted.service->detach(vm_id("vm1"), guid_a).ok());
        }
        auto fresh = restarted.service->attach(vm_id("vm1"), guid_a, unisolated());
        EXPECT_TRUE(fresh.ok()) << fresh.error().message;
        expect_consistent(restarted);

        if (outcome == ChildOutcome::completed) {
            break;
        }
        ++crashes;
        if (::testing::Test::HasFailure()) {
            return;
        }
    }
    // Sanity: the loop really walked through the operation's steps.
    EXPECT_GE(crashes, 8) << scenario.name;
    std::printf("%s: crashed and recovered at %d points\n", scenario.name.c_str(), crashes);
}

TEST(CrashSafety, AttachInterruptedAtEveryStep)
{
    crash_at_every_step(Scenario{
        "attach",
        [](Daemon&) {},
        [](Daemon& d) { return d.service->attach(vm_id("vm1"), guid_a, unisolated()).ok(); },
        {0, 1},
    });
}

core::AttachOptions own_identity(bool persistent = false)
{
    core::AttachOptions options;
    options.persistent = persistent;
    options.identity.addresses.push_back(IpPrefix::parse("10.0.0.5/24").value());
    return options;
}

TEST(CrashSafety, AttachWithIdentityInterruptedAtEveryStepLeavesNoLink)
{
    crash_at_every_step(Scenario{
        "attach with identity",
        [](Daemon&) {},
        [](Daemon& d) { return d.service->attach(vm_id("vm1"), guid_a, own_identity()).ok(); },
        {0, 1},
    });
}

TEST(CrashSafety, DetachWithIdentityInterruptedAtEveryStepLeavesNoLink)
{
    crash_at_every_step(Scenario{
        "detach with identity",
        [](Daemon& d) { ASSERT_TRUE(d.service->attach(vm_id("vm1"), guid_a, own_identity(true)).ok()); },
        [](Daemon& d) { return d.service->detach(vm_id("vm1"), guid_a).ok(); },
        {0, 1},
    });
}

TEST(CrashSafety, PersistentAttachInterruptedAtEveryStep)
{
    crash_at_every_step(Scenario{
        "persistent attach",
        [](Daemon&) {},
        [](Daemon& d) { return d.service->attach(vm_id("vm1"), guid_a, unisolated(true)).ok(); },
        {0, 1},
    });
}

TEST(CrashSafety, DetachInterruptedAtEveryStep)
{
    crash_at_every_step(Scenario{
        "detach",
        [](Daemon& d) { ASSERT_TRUE(d.service->attach(vm_id("vm1"), guid_a, unisolated()).ok()); },
        [](Daemon& d) { return d.service->detach(vm_id("vm1"), guid_a).ok(); },
        {0, 1},
    });
}

TEST(CrashSafety, AttachRollbackInterruptedAtEveryStep)
{
    // device_add fails, and the crash hits while attach undoes its mdev.
    crash_at_every_step(Scenario{
        "attach rollback",
        [](Daemon&) {},
        [](Daemon& d) {
            // Only the child's hypervisor fails; recovery runs with a working one.
            d.hypervisor.fail_hot_add = true;
            return !d.service->attach(vm_id("vm1"), guid_a, unisolated()).ok();
        },
        {0},
    });
}

}  // namespace
}  // namespace hyv::test
