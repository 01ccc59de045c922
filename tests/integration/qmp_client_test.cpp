// The QMP client against real QEMU 7.2 processes (TCG, no guest OS needed).
#include <hyv/qmp/client.hpp>

#include "qmp_test_support.hpp"

#include <signal.h>

#include <atomic>
#include <thread>
#include <vector>

namespace hyv::qmp::test {
namespace {

class QmpClientTest : public ::testing::Test {
protected:
    void SetUp() override
    {
        qemu = start_qemu();
        ASSERT_NE(qemu, nullptr);
        client = std::make_unique<Client>(client_options(*qemu));
        auto connected = client->connect();
        ASSERT_TRUE(connected) << connected.error().message;
    }

    std::unique_ptr<QemuProcess> qemu;
    std::unique_ptr<Client> client;
};

TEST_F(QmpClientTest, NegotiatesCapabilitiesAndReportsVersion)
{
    const ServerInfo info = client->server_info();
    EXPECT_EQ(info.major, 7);
    EXPECT_EQ(info.minor, 2);
    EXPECT_NE(info.package.find("Debian"), std::string::npos) << info.package;
    // Before qmp_capabilities QEMU refuses every other command, so this proves negotiation.
    auto status = client->execute("query-status");
    ASSERT_TRUE(status) << status.error().message;
    EXPECT_EQ((*status)["status"], "running");
}

TEST_F(QmpClientTest, RepliesReachTheirCallersUnderConcurrency)
{
    // Each thread asks for a property whose value identifies the port it asked about.
    constexpr int kThreads = 4;
    constexpr int kRounds = 25;
    std::atomic<int> mismatches{0};
    std::atomic<int> failures{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
            for (int round = 0; round < kRounds; ++round) {
                auto chassis = client->execute(
                    "qom-get", {{"path", "/machine/peripheral/hp" + std::to_string(t)}, {"property", "chassis"}});
                if (!chassis) {
                    ++failures;
                } else if (*chassis != t + 1) {
                    ++mismatches;
                }
            }
        });
    }
    for (auto& thread : threads) {
        thread.join();
    }
    EXPECT_EQ(failures, 0);
    EXPECT_EQ(mismatches, 0);
}

TEST_F(QmpClientTest, QemuErrorsCarryClassAndDescription)
{
    auto unknown = client->execute("no-such-command");
    ASSERT_FALSE(unknown);
    EXPECT_EQ(unknown.error().code, "qmp-CommandNotFound");
    EXPECT_NE(unknown.error().message.find("The command no-such-command has not been found"), std::string::npos)
        << unknown.error().message;

    auto missing = client->execute("device_del", {{"id", "nope"}});
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error().code, "qmp-DeviceNotFound");
    EXPECT_NE(missing.error().message.find("Device 'nope' not found"), std::string::npos) << missing.error().message;

    auto bad_argument = client->execute("device_add", {{"driver", "no-such-driver"}, {"id", "x"}});
    ASSERT_FALSE(bad_argument);
    EXPECT_EQ(bad_argument.error().code, "qmp-GenericError");
    // The connection stays usable after errors.
    EXPECT_TRUE(client->execute("query-status"));
}

TEST_F(QmpClientTest, StopAndContEmitStopAndResumeEvents)
{
    ASSERT_TRUE(client->execute("stop"));
    auto stop = client->wait_for_event("STOP", 5s);
    ASSERT_TRUE(stop) << stop.error().message;
    EXPECT_TRUE((*stop).contains("timestamp"));
    EXPECT_EQ((*client->execute("query-status"))["status"], "paused");

    // Another thread waits while this one issues the command that causes the event.
    Result<Json> resume = make_error("not-run", "");
    std::thread waiter([&] { resume = client->wait_for_event("RESUME", 5s); });
    std::this_thread::sleep_for(100ms);
    ASSERT_TRUE(client->execute("cont"));
    waiter.join();
    ASSERT_TRUE(resume) << resume.error().message;
    EXPECT_EQ((*resume)["event"], "RESUME");
}

TEST_F(QmpClientTest, EventPredicatesSelectAmongQueuedEvents)
{
    ASSERT_TRUE(client->execute("stop"));
    ASSERT_TRUE(client->execute("cont"));
    ASSERT_TRUE(client->execute("stop"));
    // Both STOPs are queued; the predicate picks the later one by timestamp.
    auto first = client->wait_for_event("STOP", 5s);
    ASSERT_TRUE(first);
    const auto first_time =
        (*first)["timestamp"]["microseconds"].get<long>() + 1000000 * (*first)["timestamp"]["seconds"].get<long>();
    auto later = client->wait_for_event(
        "STOP",
        [&](const Json& e) {
            return e["timestamp"]["microseconds"].get<long>() + 1000000 * e["timestamp"]["seconds"].get<long>() >
                   first_time;
        },
        5s);
    ASSERT_TRUE(later) << later.error().message;
    auto remaining = client->take_events();
    ASSERT_EQ(remaining.size(), 1u);
    EXPECT_EQ(remaining.front()["event"], "RESUME");
}

TEST_F(QmpClientTest, WaitingForAnEventThatNeverComesTimesOut)
{
    const auto started = Clock::now();
    auto never = client->wait_for_event("DEVICE_DELETED", 300ms);
    const auto waited = Clock::now() - started;
    ASSERT_FALSE(never);
    EXPECT_EQ(never.error().code, "qmp-timeout");
    EXPECT_GE(waited, 300ms);
    EXPECT_LT(waited, 2s);
}

TEST_F(QmpClientTest, HumanMonitorCommandReturnsText)
{
    auto status = client->human_monitor_command("info status");
    ASSERT_TRUE(status) << status.error().message;
    EXPECT_NE(status->find("VM status: running"), std::string::npos) << *status;
    // HMP reports its own mistakes as text, not as a QMP error.
    auto unknown = client->human_monitor_command("info no-such-thing");
    ASSERT_TRUE(unknown);
    EXPECT_FALSE(unknown->empty());
}

TEST_F(QmpClientTest, CommandTimesOutWhenQemuDoesNotAnswerAndRecovers)
{
    ASSERT_EQ(::kill(qemu->pid(), SIGSTOP), 0);
    const auto started = Clock::now();
    auto frozen = client->execute("query-status", Json::object(), 400ms);
    const auto waited = Clock::now() - started;
    ASSERT_EQ(::kill(qemu->pid(), SIGCONT), 0);
    ASSERT_FALSE(frozen);
    EXPECT_EQ(frozen.error().code, "qmp-timeout");
    EXPECT_GE(waited, 400ms);
    EXPECT_LT(waited, 3s);
    // The late reply to the abandoned command must not be taken for the next one's.
    auto name = client->execute("qom-get", {{"path", "/machine/peripheral/hp2"}, {"property", "chassis"}});
    ASSERT_TRUE(name) << name.error().message;
    EXPECT_EQ(*name, 3);
    EXPECT_TRUE(client->connected());
}

TEST_F(QmpClientTest, ReconnectsAfterClosingTheSocket)
{
    client->disconnect();
    EXPECT_FALSE(client->connected());
    auto again = client->reconnect();
    ASSERT_TRUE(again) << again.error().message;
    EXPECT_TRUE(client->execute("query-status"));
}

TEST_F(QmpClientTest, AutoReconnectsToARestartedQemu)
{
    const std::string socket = qemu->directory() + "/restart.sock";
    QemuOptions options;
    options.qmp_socket_path = socket;
    auto first = start_qemu(options);
    ASSERT_NE(first, nullptr);
    ClientOptions restart_options = client_options(*first);
    Client restarting(restart_options);
    ASSERT_TRUE(restarting.connect());
    ASSERT_TRUE(restarting.execute("query-status"));

    first->kill();
    first.reset();
    auto lost = restarting.execute("query-status");
    ASSERT_FALSE(lost);
    EXPECT_TRUE(lost.error().code == "qmp-disconnected" || lost.error().code == "qmp-connect")
        << lost.error().code << ": " << lost.error().message;
    EXPECT_FALSE(restarting.connected());

    auto second = start_qemu(options);
    ASSERT_NE(second, nullptr);
    auto status = restarting.execute("query-status");
    ASSERT_TRUE(status) << status.error().message;
    EXPECT_TRUE(restarting.connected());
}

TEST_F(QmpClientTest, DisconnectedClientWithoutAutoReconnectSaysSo)
{
    ClientOptions options = client_options(*qemu);
    options.auto_reconnect = false;
    Client manual(options);
    auto refused = manual.execute("query-status");
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().code, "qmp-disconnected");
}

TEST_F(QmpClientTest, SecondClientWaitsForTheSocketToBeFree)
{
    // QEMU serves one client per QMP socket; the second gets no greeting until the first leaves.
    ClientOptions options = client_options(*qemu);
    options.connect_timeout = 500ms;
    Client second(options);
    auto busy = second.connect();
    ASSERT_FALSE(busy);
    EXPECT_EQ(busy.error().code, "qmp-timeout");
    EXPECT_NE(busy.error().message.find("another client"), std::string::npos);
    client->disconnect();
    auto free_now = second.connect();
    ASSERT_TRUE(free_now) << free_now.error().message;
}

TEST(QmpClientNoQemu, ConnectingToAMissingSocketNamesTheFix)
{
    Client client({.socket_path = "/nonexistent/hyv-qmp.sock"});
    auto connected = client.connect();
    ASSERT_FALSE(connected);
    EXPECT_EQ(connected.error().code, "qmp-connect");
    EXPECT_NE(connected.error().message.find("-qmp unix:"), std::string::npos);
}

}  // namespace
}  // namespace hyv::qmp::test
