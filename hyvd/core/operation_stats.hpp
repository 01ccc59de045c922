// Counts and latencies of the operations hyvd serves (attach, detach), for the metrics file.
// Kept in memory since hyvd started; Prometheus computes rates from the counters.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

namespace hyv::core {

// A cumulative histogram of durations in seconds, with Prometheus-style upper bounds.
struct LatencyHistogram {
    static constexpr std::array<double, 11> bounds{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
    std::array<std::uint64_t, bounds.size()> le{};  // le[i]: observations <= bounds[i]
    std::uint64_t count = 0;                        // all observations (the +Inf bucket)
    double sum = 0;

    void observe(double seconds);
};

struct OperationStats {
    std::uint64_t succeeded = 0;
    std::uint64_t failed = 0;
    std::map<std::string, std::uint64_t> failures_by_code;  // error code -> count
    LatencyHistogram latency;                               // of every call, failed ones included
};

class OperationCounters {
public:
    // Records one call of `operation` ("attach", "detach"); `error_code` empty when it succeeded.
    void record(const std::string& operation, const std::string& error_code, std::chrono::nanoseconds took);
    std::map<std::string, OperationStats> snapshot() const;

private:
    mutable std::mutex mutex_;
    std::map<std::string, OperationStats> stats_;
};

}  // namespace hyv::core
