// hyvd's metrics as a file for node_exporter's textfile collector (docs/operations.md, "Metrics"):
// per hyv mdev its sysfs counters and quota use, assignments by state, and the count, failures and
// latency of attach and detach. Written in the Prometheus text exposition format, atomically
// (temporary file + rename), every --metrics-interval seconds and after every change.
#pragma once

#include "hyvd/core/operation_stats.hpp"
#include "hyvd/core/service.hpp"

#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace hyv::daemon {

// One hyv mdev as sysfs shows it. vm and guid are empty for mdevs hyvd has no assignment for.
struct InstanceSample {
    std::string mdev;
    std::string vm;
    std::string guid;
    bool live = true;
    std::map<std::string, std::uint64_t> counters;     // sysfs <uuid>/hyv/<name>: commands, interrupts, ...
    std::map<std::string, std::uint64_t> quota_used;   // sysfs <uuid>/quota/<resource>
    std::map<std::string, std::uint64_t> quota_limit;  // sysfs <uuid>/quota/<resource>_max
};

struct MetricsInput {
    std::vector<InstanceSample> instances;
    std::map<AssignmentState, std::size_t> assignments_by_state;
    std::map<std::string, core::OperationStats> operations;  // "attach", "detach"
};

// The exposition text; deterministic for equal input (families, then labels, in a fixed order).
std::string render_metrics(const MetricsInput& input);

// Reads what sysfs offers of one instance (<sysfs_root>/bus/mdev/devices/<uuid>); attributes
// that are missing or unreadable are left out.
InstanceSample read_instance(const std::filesystem::path& sysfs_root, const MdevUuid& mdev);

// Writes `text` to `path` through `path`.tmp and rename(2), so readers see the old or the new file.
Result<void> write_atomically(const std::filesystem::path& path, const std::string& text);

// Collects and writes the file on its own thread, every `interval` and soon after poke().
class MetricsWriter {
public:
    MetricsWriter(core::Service& service, core::MdevControl& mdevs, std::filesystem::path sysfs_root,
                  std::filesystem::path path, std::chrono::seconds interval);
    ~MetricsWriter();
    MetricsWriter(const MetricsWriter&) = delete;
    MetricsWriter& operator=(const MetricsWriter&) = delete;

    void poke();
    // Collects and writes once, on the calling thread.
    Result<void> write_now();

private:
    void loop();

    core::Service& service_;
    core::MdevControl& mdevs_;
    std::filesystem::path sysfs_root_;
    std::filesystem::path path_;
    std::chrono::seconds interval_;
    std::mutex mutex_;
    std::condition_variable wake_;
    bool poked_ = false;
    bool stopping_ = false;
    bool failing_ = false;  // the last write failed (logged once until it works again)
    std::thread thread_;
};

}  // namespace hyv::daemon
