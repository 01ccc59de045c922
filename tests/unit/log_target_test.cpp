// hyvd's log targets: when it picks the journal, and what each journal entry carries. journald
// does not run on the build machine, so the entries are checked as the fields sd_journal_sendv
// gets, and the fields core operations attach are checked with a capturing spdlog sink.
#include "core_service_fixture.hpp"
#include "hyvd/log_target.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>
#include <mutex>

namespace hyv::test {
namespace {

using daemon::journal_fields;
using daemon::LogTarget;

bool has(const std::vector<std::string>& fields, const std::string& field)
{
    return std::find(fields.begin(), fields.end(), field) != fields.end();
}

TEST(LogTarget, PrioritiesFollowSyslog)
{
    EXPECT_EQ(daemon::journal_priority(spdlog::level::critical), 2);
    EXPECT_EQ(daemon::journal_priority(spdlog::level::err), 3);
    EXPECT_EQ(daemon::journal_priority(spdlog::level::warn), 4);
    EXPECT_EQ(daemon::journal_priority(spdlog::level::info), 6);
    EXPECT_EQ(daemon::journal_priority(spdlog::level::debug), 7);
    EXPECT_EQ(daemon::journal_priority(spdlog::level::trace), 7);
}

TEST(LogTarget, EntriesCarryTheFieldsOfTheCurrentScope)
{
    auto bare =
        journal_fields(spdlog::level::warn, "reconcile: VM vm1 cannot be inspected", current_log_fields(), "hyvd", 42);
    EXPECT_EQ(bare, (std::vector<std::string>{"MESSAGE=reconcile: VM vm1 cannot be inspected", "PRIORITY=4",
                                              "SYSLOG_IDENTIFIER=hyvd", "TID=42"}));
    {
        const LogScope outer({"op-0123456789abcdef", "vm1", "0002:c903:00a1:b2c3", ""});
        {
            const LogScope inner({"op-0123456789abcdef", "", "", "3b5f1f6e-8f39-4a53-9c1e-2b7d0c4a9e10"});
            auto orphan = journal_fields(spdlog::level::info, "x", current_log_fields(), "hyvd", 1);
            EXPECT_TRUE(has(orphan, "HYV_MDEV=3b5f1f6e-8f39-4a53-9c1e-2b7d0c4a9e10"));
            EXPECT_FALSE(has(orphan, "HYV_VM=vm1"));
        }
        auto fields = journal_fields(spdlog::level::err, "two\nlines", current_log_fields(), "hyvd", 7);
        EXPECT_TRUE(has(fields, "MESSAGE=two\nlines"));
        EXPECT_TRUE(has(fields, "PRIORITY=3"));
        EXPECT_TRUE(has(fields, "HYV_OP_ID=op-0123456789abcdef"));
        EXPECT_TRUE(has(fields, "HYV_VM=vm1"));
        EXPECT_TRUE(has(fields, "HYV_GUID=0002:c903:00a1:b2c3"));
        EXPECT_EQ(std::count_if(fields.begin(), fields.end(),
                                [](const std::string& f) { return f.rfind("HYV_MDEV=", 0) == 0; }),
                  0)
            << "an empty field is not sent";
    }
    EXPECT_EQ(current_log_fields().op_id, "") << "a scope restores what was there before it";
}

TEST(LogTarget, StderrIsTheJournalOnlyWhileItIsTheStreamSystemdGave)
{
    EXPECT_TRUE(daemon::stderr_is_journal("2049:123456", 2049, 123456));
    EXPECT_FALSE(daemon::stderr_is_journal("2049:123456", 2049, 123457));  // stderr redirected since
    EXPECT_FALSE(daemon::stderr_is_journal(nullptr, 2049, 123456));
    EXPECT_FALSE(daemon::stderr_is_journal("", 0, 0));
    EXPECT_FALSE(daemon::stderr_is_journal("2049", 2049, 0));
    EXPECT_FALSE(daemon::stderr_is_journal("2049:x", 2049, 0));
    EXPECT_FALSE(daemon::stderr_is_journal("-1:5", 0, 5));
}

TEST(LogTarget, ExplicitJournalNeedsAListeningJournald)
{
    TempDir dir;
    const std::string socket_path = (dir.path() / "journal.socket").string();
    auto missing = daemon::choose_log_target("journal", nullptr, socket_path);
    ASSERT_FALSE(missing.ok());
    EXPECT_EQ(missing.error().code, "config");
    EXPECT_NE(missing.error().message.find("use --log-target stderr"), std::string::npos) << missing.error().message;

    const int fd = ::socket(AF_UNIX, SOCK_DGRAM, 0);
    ASSERT_GE(fd, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, socket_path.c_str(), sizeof(address.sun_path) - 1);
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
    EXPECT_EQ(*daemon::choose_log_target("journal", nullptr, socket_path), LogTarget::journal);
    EXPECT_EQ(*daemon::choose_log_target("stderr", "1:1", socket_path), LogTarget::stderr_text);
    // Not started by systemd (no JOURNAL_STREAM): stderr even though journald listens.
    EXPECT_EQ(*daemon::choose_log_target("auto", nullptr, socket_path), LogTarget::stderr_text);
    ::close(fd);
}

// Records the fields in force when each line was logged.
class FieldsSink final : public spdlog::sinks::base_sink<std::mutex> {
public:
    std::vector<LogFields> seen;

protected:
    void sink_it_(const spdlog::details::log_msg&) override { seen.push_back(current_log_fields()); }
    void flush_() override {}
};

TEST(LogTarget, OperationsAttachTheirOpVmGuidAndMdev)
{
    auto sink = std::make_shared<FieldsSink>();
    auto previous = spdlog::default_logger();
    auto logger = std::make_shared<spdlog::logger>("capture", sink);
    logger->set_level(spdlog::level::debug);
    spdlog::set_default_logger(logger);
    {
        TempDir dir;
        Daemon d(dir.path());
        add_running_vm(d, "vm1");
        auto attached = d.service->attach(vm_id("vm1"), guid_a, unisolated());
        ASSERT_TRUE(attached.ok());
        const auto& a = attached->assignment;
        const bool carried = std::any_of(sink->seen.begin(), sink->seen.end(), [&](const LogFields& f) {
            return f.op_id == attached->op_id && f.vm == "vm1" && f.guid == guid_a.to_string() &&
                   f.mdev == a.mdev.to_string();
        });
        EXPECT_TRUE(carried) << sink->seen.size() << " lines, none with all four fields";
    }
    spdlog::set_default_logger(previous);
    EXPECT_EQ(current_log_fields().op_id, "");
}

}  // namespace
}  // namespace hyv::test
