#include "hyvd/core/operation_stats.hpp"

namespace hyv::core {

void LatencyHistogram::observe(double seconds)
{
    for (std::size_t i = 0; i < bounds.size(); ++i) {
        if (seconds <= bounds[i]) {
            ++le[i];
        }
    }
    ++count;
    sum += seconds;
}

void OperationCounters::record(const std::string& operation, const std::string& error_code,
                               std::chrono::nanoseconds took)
{
    std::lock_guard lock(mutex_);
    OperationStats& stats = stats_[operation];
    if (error_code.empty()) {
        ++stats.succeeded;
    } else {
        ++stats.failed;
        ++stats.failures_by_code[error_code];
    }
    stats.latency.observe(std::chrono::duration<double>(took).count());
}

std::map<std::string, OperationStats> OperationCounters::snapshot() const
{
    std::lock_guard lock(mutex_);
    return stats_;
}

}  // namespace hyv::core
