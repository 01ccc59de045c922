// Fixed input for the metrics text: one assigned instance, one an orchestrator made, a label
// that needs escaping, and attach/detach statistics. Shared by metrics_test.cpp and the
// printer whose output metrics_format_test.py parses with a real Prometheus parser.
#pragma once

#include "hyvd/metrics.hpp"

#include <chrono>

namespace hyv::test {

inline daemon::MetricsInput sample_metrics_input()
{
    using namespace std::chrono_literals;
    daemon::MetricsInput input;
    daemon::InstanceSample ours;
    ours.mdev = "3b5f1f6e-8f39-4a53-9c1e-2b7d0c4a9e10";
    ours.vm = "vm\"1\\";
    ours.guid = "0002:c903:00a1:b2c3";
    ours.counters = {{"commands", 120},  {"command_errors", 2}, {"trapped_reads", 7}, {"trapped_writes", 130},
                     {"interrupts", 40}, {"bad_accesses", 0},   {"gid_refusals", 1},  {"pinned_unmaps", 3}};
    ours.quota_used = {{"qps", 3}, {"ahs", 2}, {"pinned_bytes", 1048576}};
    ours.quota_limit = {{"qps", 1024}, {"ahs", 4096}, {"pinned_bytes", 1073741824}};
    daemon::InstanceSample theirs;
    theirs.mdev = "6a0c4a1e-1111-4222-8333-444455556666";
    theirs.live = false;
    theirs.counters = {{"commands", 5}};
    input.instances = {ours, theirs};
    input.assignments_by_state = {{AssignmentState::attached, 1}, {AssignmentState::failed, 2}};
    core::OperationCounters counters;
    counters.record("attach", "", 180ms);
    counters.record("attach", "", 2s);
    counters.record("attach", "vm-not-running", 3ms);
    counters.record("detach", "hot-remove-timeout", 10s);
    input.operations = counters.snapshot();
    return input;
}

}  // namespace hyv::test
