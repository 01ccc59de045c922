#include "hyvd/metrics.hpp"

#include "hyvd/adapters/sysfs_mdev.hpp"
#include "hyv/error_codes.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <optional>

namespace hyv::daemon {

namespace {

namespace fs = std::filesystem;

// The sysfs counters of an instance (host-modules/hyv_instance.c), with their HELP text.
struct CounterInfo {
    const char* sysfs;
    const char* help;
};
constexpr CounterInfo instance_counters[] = {
    {"commands", "Control-path commands the guest sent through the trapped command channel."},
    {"command_errors", "Control-path commands that failed (the guest got an error back)."},
    {"trapped_reads", "Guest reads of trapped device registers (each one an exit to the host)."},
    {"trapped_writes", "Guest writes to trapped device registers (each one an exit to the host)."},
    {"interrupts", "Interrupts the host raised in the guest (completion events, command completions)."},
    {"bad_accesses", "Guest accesses the device refused (bad offset, size or state)."},
    {"gid_refusals", "Source GID indices and rdma_cm addresses outside the guest's network identity (refused)."},
    {"pinned_unmaps", "Guest RAM unmaps by QEMU that met pinned memory registrations (VFIO dma_unmap)."},
};
constexpr const char* quota_resources[] = {"pds", "cqs", "qps", "srqs", "mrs", "ahs", "pinned_bytes", "cm_ids"};

std::string escape(const std::string& value)
{
    std::string out;
    for (char c : value) {
        if (c == '\\' || c == '"') {
            out.push_back('\\');
            out.push_back(c);
        } else if (c == '\n') {
            out += "\\n";
        } else {
            out.push_back(c);
        }
    }
    return out;
}

std::string instance_labels(const InstanceSample& i)
{
    return fmt::format("mdev=\"{}\",vm=\"{}\",guid=\"{}\"", escape(i.mdev), escape(i.vm), escape(i.guid));
}

void family(std::string& out, const std::string& name, const char* type, const std::string& help)
{
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

// Shortest text that reads back as the same double (Prometheus accepts Go float syntax).
std::string number(double value)
{
    return fmt::format("{}", value);
}

void render_instances(std::string& out, const std::vector<InstanceSample>& instances)
{
    for (const auto& info : instance_counters) {
        const std::string name = fmt::format("hyv_instance_{}_total", info.sysfs);
        family(out, name, "counter", info.help);
        for (const auto& i : instances) {
            if (auto it = i.counters.find(info.sysfs); it != i.counters.end()) {
                out += fmt::format("{}{{{}}} {}\n", name, instance_labels(i), it->second);
            }
        }
    }
    const std::pair<const char*, const char*> quota_families[] = {
        {"hyv_instance_quota_used", "Host objects (or pinned bytes) the instance's guest holds now, per resource."},
        {"hyv_instance_quota_limit", "The instance's quota per resource (sysfs quota/<resource>_max)."},
    };
    for (const auto& [name, help] : quota_families) {
        family(out, name, "gauge", help);
        const bool used = std::strcmp(name, "hyv_instance_quota_used") == 0;
        for (const auto& i : instances) {
            const auto& values = used ? i.quota_used : i.quota_limit;
            for (const char* resource : quota_resources) {
                if (auto it = values.find(resource); it != values.end()) {
                    out += fmt::format("{}{{{},resource=\"{}\"}} {}\n", name, instance_labels(i), resource, it->second);
                }
            }
        }
    }
    family(out, "hyv_instance_live", "gauge",
           "1 while the instance works, 0 once hyv_mdev marked it dead (its host device went away).");
    for (const auto& i : instances) {
        out += fmt::format("hyv_instance_live{{{}}} {}\n", instance_labels(i), i.live ? 1 : 0);
    }
}

void render_operations(std::string& out, const std::map<std::string, core::OperationStats>& operations)
{
    family(out, "hyv_operations_total", "counter", "Attach and detach requests hyvd finished since it started.");
    for (const auto& [op, s] : operations) {
        out += fmt::format("hyv_operations_total{{op=\"{}\",result=\"ok\"}} {}\n", escape(op), s.succeeded);
        out += fmt::format("hyv_operations_total{{op=\"{}\",result=\"error\"}} {}\n", escape(op), s.failed);
    }
    family(out, "hyv_operation_errors_total", "counter", "Failed attach and detach requests by error code.");
    for (const auto& [op, s] : operations) {
        for (const auto& [code, n] : s.failures_by_code) {
            out += fmt::format("hyv_operation_errors_total{{op=\"{}\",code=\"{}\"}} {}\n", escape(op), escape(code), n);
        }
    }
    family(out, "hyv_operation_duration_seconds", "histogram",
           "How long attach and detach requests took, failed ones included.");
    for (const auto& [op, s] : operations) {
        const auto& h = s.latency;
        for (std::size_t b = 0; b < h.bounds.size(); ++b) {
            out += fmt::format("hyv_operation_duration_seconds_bucket{{op=\"{}\",le=\"{}\"}} {}\n", escape(op),
                               number(h.bounds[b]), h.le[b]);
        }
        out += fmt::format("hyv_operation_duration_seconds_bucket{{op=\"{}\",le=\"+Inf\"}} {}\n", escape(op), h.count);
        out += fmt::format("hyv_operation_duration_seconds_sum{{op=\"{}\"}} {}\n", escape(op), number(h.sum));
        out += fmt::format("hyv_operation_duration_seconds_count{{op=\"{}\"}} {}\n", escape(op), h.count);
    }
}

std::optional<std::uint64_t> read_number(const fs::path& path)
{
    auto text = adapters::read_sysfs_attribute(path);
    if (!text) {
        return std::nullopt;
    }
    std::uint64_t value = 0;
    const auto [end, error] = std::from_chars(text->data(), text->data() + text->size(), value);
    if (error != std::errc() || end != text->data() + text->size()) {
        return std::nullopt;
    }
    return value;
}

}  // namespace

std::string render_metrics(const MetricsInput& input)
{
    std::string out;
    render_instances(out, input.instances);
    family(out, "hyv_assignments", "gauge", "hyvd's assignments by state (docs/design.md, \"core\").");
    // Every stored state, in the enum's order (removed is the last and never stored).
    for (int s = 0; s < static_cast<int>(AssignmentState::removed); ++s) {
        const auto state = static_cast<AssignmentState>(s);
        auto it = input.assignments_by_state.find(state);
        out += fmt::format("hyv_assignments{{state=\"{}\"}} {}\n", to_string(state),
                           it == input.assignments_by_state.end() ? 0 : it->second);
    }
    render_operations(out, input.operations);
    return out;
}

InstanceSample read_instance(const fs::path& sysfs_root, const MdevUuid& mdev)
{
    InstanceSample sample;
    sample.mdev = mdev.to_string();
    const fs::path dir = sysfs_root / "bus/mdev/devices" / sample.mdev;
    for (const auto& info : instance_counters) {
        if (auto value = read_number(dir / "hyv" / info.sysfs)) {
            sample.counters[info.sysfs] = *value;
        }
    }
    for (const char* resource : quota_resources) {
        if (auto used = read_number(dir / "quota" / resource)) {
            sample.quota_used[resource] = *used;
        }
        if (auto limit = read_number(dir / "quota" / (std::string(resource) + "_max"))) {
            sample.quota_limit[resource] = *limit;
        }
    }
    auto state = adapters::read_sysfs_attribute(dir / "hyv" / "state");
    sample.live = !state || *state != "dead";
    return sample;
}

Result<void> write_atomically(const fs::path& path, const std::string& text)
{
    const fs::path tmp = path.string() + ".tmp";
    {
        std::ofstream out(tmp, std::ios::trunc);
        out << text;
        out.flush();
        if (!out) {
            return make_error(errc::config, fmt::format("cannot write metrics file {}: {}; create its directory or "
                                                        "choose another --metrics-file",
                                                        tmp.string(), std::strerror(errno)));
        }
    }
    if (std::rename(tmp.c_str(), path.c_str()) != 0) {
        const int error = errno;
        std::remove(tmp.c_str());
        return make_error(errc::config,
                          fmt::format("cannot rename {} to {}: {}", tmp.string(), path.string(), std::strerror(error)));
    }
    return {};
}

MetricsWriter::MetricsWriter(core::Service& service, core::MdevControl& mdevs, fs::path sysfs_root, fs::path path,
                             std::chrono::seconds interval)
    : service_(service), mdevs_(mdevs), sysfs_root_(std::move(sysfs_root)), path_(std::move(path)), interval_(interval),
      thread_([this] { loop(); })
{
}

MetricsWriter::~MetricsWriter()
{
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    thread_.join();
}

void MetricsWriter::poke()
{
    {
        std::lock_guard lock(mutex_);
        poked_ = true;
    }
    wake_.notify_all();
}

Result<void> MetricsWriter::write_now()
{
    MetricsInput input;
    auto status = service_.status();
    auto rows = service_.list();
    auto instances = mdevs_.list();
    if (!status || !rows || !instances) {
        return !status ? status.error() : !rows ? rows.error() : instances.error();
    }
    input.assignments_by_state = status->assignments_by_state;
    for (const auto& instance : *instances) {
        InstanceSample sample = read_instance(sysfs_root_, instance.uuid);
        for (const auto& a : *rows) {
            if (a.mdev == instance.uuid) {
                sample.vm = a.vm.str();
                sample.guid = a.guid.to_string();
            }
        }
        input.instances.push_back(std::move(sample));
    }
    input.operations = service_.operation_stats();
    return write_atomically(path_, render_metrics(input));
}

void MetricsWriter::loop()
{
    std::unique_lock lock(mutex_);
    while (!stopping_) {
        lock.unlock();
        auto written = write_now();
        lock.lock();
        if (!written && !failing_) {
            spdlog::warn("metrics: {}", written.error().message);
        } else if (written && failing_) {
            spdlog::info("metrics: writing {} again", path_.string());
        }
        failing_ = !written;
        wake_.wait_for(lock, interval_, [this] { return stopping_ || poked_; });
        poked_ = false;
    }
}

}  // namespace hyv::daemon
