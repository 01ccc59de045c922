// The metrics file: its text from fixed input, instances read from a sysfs tree, atomic writes.
// metrics_format_test.py parses the same text with prometheus_client's parser.
#include "core_fakes.hpp"
#include "metrics_sample.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

namespace hyv::test {
namespace {

bool has_line(const std::string& text, const std::string& line)
{
    return text.find("\n" + line + "\n") != std::string::npos || text.rfind(line + "\n", 0) == 0;
}

TEST(Metrics, TextOfFixedInput)
{
    const std::string text = daemon::render_metrics(sample_metrics_input());
    const std::string ours = R"(mdev="3b5f1f6e-8f39-4a53-9c1e-2b7d0c4a9e10",vm="vm\"1\\",guid="0002:c903:00a1:b2c3")";
    EXPECT_TRUE(has_line(text, "# TYPE hyv_instance_commands_total counter")) << text;
    EXPECT_TRUE(has_line(text, "hyv_instance_commands_total{" + ours + "} 120")) << text;
    EXPECT_TRUE(has_line(text, "hyv_instance_trapped_writes_total{" + ours + "} 130"));
    EXPECT_TRUE(has_line(text, "hyv_instance_quota_used{" + ours + ",resource=\"pinned_bytes\"} 1048576"));
    EXPECT_TRUE(has_line(text, "hyv_instance_quota_limit{" + ours + ",resource=\"qps\"} 1024"));
    EXPECT_TRUE(has_line(text, "hyv_instance_live{" + ours + "} 1"));
    const std::string theirs = R"(mdev="6a0c4a1e-1111-4222-8333-444455556666",vm="",guid="")";
    EXPECT_TRUE(has_line(text, "hyv_instance_commands_total{" + theirs + "} 5"));
    EXPECT_TRUE(has_line(text, "hyv_instance_live{" + theirs + "} 0"));
    EXPECT_EQ(text.find("hyv_instance_interrupts_total{" + theirs), std::string::npos)
        << "counters sysfs lacks are left out";
    EXPECT_TRUE(has_line(text, "hyv_assignments{state=\"attached\"} 1"));
    EXPECT_TRUE(has_line(text, "hyv_assignments{state=\"failed\"} 2"));
    EXPECT_TRUE(has_line(text, "hyv_assignments{state=\"detaching\"} 0")) << "every state, 0 included";
    EXPECT_EQ(text.find("state=\"removed\""), std::string::npos);
    EXPECT_TRUE(has_line(text, "hyv_operations_total{op=\"attach\",result=\"ok\"} 2"));
    EXPECT_TRUE(has_line(text, "hyv_operations_total{op=\"attach\",result=\"error\"} 1"));
    EXPECT_TRUE(has_line(text, "hyv_operation_errors_total{op=\"detach\",code=\"hot-remove-timeout\"} 1"));
    EXPECT_TRUE(has_line(text, "hyv_operation_duration_seconds_bucket{op=\"attach\",le=\"0.01\"} 1"));
    EXPECT_TRUE(has_line(text, "hyv_operation_duration_seconds_bucket{op=\"attach\",le=\"0.25\"} 2"));
    EXPECT_TRUE(has_line(text, "hyv_operation_duration_seconds_bucket{op=\"attach\",le=\"2.5\"} 3"));
    EXPECT_TRUE(has_line(text, "hyv_operation_duration_seconds_bucket{op=\"attach\",le=\"+Inf\"} 3"));
    EXPECT_TRUE(has_line(text, "hyv_operation_duration_seconds_count{op=\"attach\"} 3"));
    EXPECT_NE(text.find("\nhyv_operation_duration_seconds_sum{op=\"attach\"} 2.18"), std::string::npos);
    EXPECT_TRUE(has_line(text, "hyv_operation_duration_seconds_sum{op=\"detach\"} 10"));
    EXPECT_EQ(text, daemon::render_metrics(sample_metrics_input())) << "the same input gives the same text";
}

void write_file(const fs::path& path, const std::string& text)
{
    fs::create_directories(path.parent_path());
    std::ofstream(path) << text;
}

TEST(Metrics, ReadsAnInstanceFromSysfs)
{
    TempDir dir;
    const auto mdev = MdevUuid::parse("3b5f1f6e-8f39-4a53-9c1e-2b7d0c4a9e10").value();
    const fs::path device = dir.path() / "bus/mdev/devices" / mdev.to_string();
    write_file(device / "hyv/commands", "17\n");
    write_file(device / "hyv/interrupts", "4\n");
    write_file(device / "hyv/trapped_reads", "not a number\n");
    write_file(device / "hyv/pinned_unmaps", "5\n");
    write_file(device / "hyv/state", "dead\n");
    write_file(device / "quota/qps", "2\n");
    write_file(device / "quota/qps_max", "64\n");
    write_file(device / "quota/ahs", "1\n");
    const auto sample = daemon::read_instance(dir.path(), mdev);
    EXPECT_EQ(sample.mdev, mdev.to_string());
    EXPECT_EQ(sample.counters,
              (std::map<std::string, std::uint64_t>{{"commands", 17}, {"interrupts", 4}, {"pinned_unmaps", 5}}));
    EXPECT_EQ(sample.quota_used, (std::map<std::string, std::uint64_t>{{"qps", 2}, {"ahs", 1}}));
    EXPECT_EQ(sample.quota_limit, (std::map<std::string, std::uint64_t>{{"qps", 64}}));
    EXPECT_FALSE(sample.live);
}

TEST(Metrics, WritesAtomicallyAndSaysWhatToFix)
{
    TempDir dir;
    const fs::path path = dir.path() / "hyv.prom";
    ASSERT_TRUE(daemon::write_atomically(path, "a 1\n").ok());
    ASSERT_TRUE(daemon::write_atomically(path, "a 2\n").ok());
    std::stringstream content;
    content << std::ifstream(path).rdbuf();
    EXPECT_EQ(content.str(), "a 2\n");
    EXPECT_FALSE(fs::exists(path.string() + ".tmp"));
    auto failed = daemon::write_atomically(dir.path() / "missing" / "hyv.prom", "a 1\n");
    ASSERT_FALSE(failed.ok());
    EXPECT_NE(failed.error().message.find("--metrics-file"), std::string::npos) << failed.error().message;
}

}  // namespace
}  // namespace hyv::test
