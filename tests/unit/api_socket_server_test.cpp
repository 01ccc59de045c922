// The API socket server on a real UNIX socket in a temp dir: line framing, oversize
// handling, concurrency cap, stale sockets and clean stop. The handler is a plain echo so
// that these tests exercise the socket code only (dispatching is tested elsewhere).
#include "hyvd/api/protocol.hpp"
#include "hyvd/api/socket_server.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

namespace hyv::api {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

class TempDir {
public:
    TempDir()
    {
        std::string pattern = (fs::temp_directory_path() / "hyv-api-test.XXXXXX").string();
        path_ = ::mkdtemp(pattern.data());
    }
    ~TempDir()
    {
        std::error_code ec;
        fs::remove_all(path_, ec);
    }
    const fs::path& path() const { return path_; }

private:
    fs::path path_;
};

UniqueFd connect_to(const fs::path& path)
{
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, path.c_str(), sizeof(address.sun_path) - 1);
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0) {
        return UniqueFd();
    }
    timeval limit{.tv_sec = 10, .tv_usec = 0};
    ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof(limit));
    return fd;
}

std::string read_line(int fd)
{
    std::string line;
    char c = 0;
    while (::recv(fd, &c, 1, 0) == 1) {
        if (c == '\n') {
            return line;
        }
        line += c;
    }
    return line;
}

class SocketServerTest : public ::testing::Test {
protected:
    void start(std::size_t max_connections = 4, std::size_t max_request = 0,
               std::chrono::seconds idle_timeout = std::chrono::seconds(300))
    {
        ServerOptions options;
        options.idle_timeout = idle_timeout;
        options.socket_path = (dir_.path() / "sub" / "hyvd.sock").string();
        options.max_connections = max_connections;
        options.max_request_bytes = max_request;
        auto server = SocketServer::listen(options, [this](std::string_view line, const PeerCredentials& peer) {
            ++handled_;
            if (line == "slow") {
                std::this_thread::sleep_for(std::chrono::milliseconds(300));
            }
            return ok_response(nullptr, json{{"echo", std::string(line)}, {"uid", peer.uid}});
        });
        ASSERT_TRUE(server.ok()) << server.error().message;
        server_ = std::move(server).value();
        thread_ = std::thread([this] { server_->run(); });
    }
    void TearDown() override
    {
        if (server_) {
            server_->stop();
        }
        if (thread_.joinable()) {
            thread_.join();
        }
        server_.reset();
    }
    fs::path socket_path() const { return dir_.path() / "sub" / "hyvd.sock"; }

    TempDir dir_;
    std::unique_ptr<SocketServer> server_;
    std::thread thread_;
    std::atomic<int> handled_{0};
};

TEST_F(SocketServerTest, CreatesTheDirectoryAndSocketWithMode0660)
{
    start();
    struct stat info {};
    ASSERT_EQ(::stat(socket_path().c_str(), &info), 0);
    EXPECT_TRUE(S_ISSOCK(info.st_mode));
    EXPECT_EQ(info.st_mode & 0777, 0660u);
}

TEST_F(SocketServerTest, AnswersSeveralLinesOnOneConnectionInOrder)
{
    start();
    auto fd = connect_to(socket_path());
    ASSERT_TRUE(fd.valid());
    // Two requests in one write and one request split over two writes.
    ASSERT_TRUE(write_all(fd.get(), "one\ntwo\nthr"));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    ASSERT_TRUE(write_all(fd.get(), "ee\r\n\n"));
    EXPECT_EQ(json::parse(read_line(fd.get()))["result"]["echo"], "one");
    EXPECT_EQ(json::parse(read_line(fd.get()))["result"]["echo"], "two");
    auto third = json::parse(read_line(fd.get()));
    EXPECT_EQ(third["result"]["echo"], "three");
    EXPECT_EQ(third["result"]["uid"], ::geteuid());
    EXPECT_EQ(handled_.load(), 3);  // the blank line is not a request
}

TEST_F(SocketServerTest, OversizedRequestGetsAnErrorAndTheConnectionStaysUsable)
{
    start(4, 1024);
    auto fd = connect_to(socket_path());
    ASSERT_TRUE(fd.valid());
    ASSERT_TRUE(write_all(fd.get(), std::string(5000, 'x') + "\n"));
    auto error = json::parse(read_line(fd.get()));
    EXPECT_EQ(error["ok"], false);
    EXPECT_EQ(error["error"]["code"], errc::request_too_large);
    ASSERT_TRUE(write_all(fd.get(), "after\n"));
    EXPECT_EQ(json::parse(read_line(fd.get()))["result"]["echo"], "after");
    EXPECT_EQ(handled_.load(), 1);  // the oversized line never reached the handler
}

TEST_F(SocketServerTest, ClientsBeyondTheCapAreToldAndClosed)
{
    start(2);
    auto first = connect_to(socket_path());
    auto second = connect_to(socket_path());
    ASSERT_TRUE(write_all(first.get(), "a\n"));
    ASSERT_TRUE(write_all(second.get(), "b\n"));
    read_line(first.get());
    read_line(second.get());
    auto third = connect_to(socket_path());
    ASSERT_TRUE(third.valid());
    auto refused = json::parse(read_line(third.get()));
    EXPECT_EQ(refused["error"]["code"], errc::too_many_connections);
    first.reset();
    // The server notices the closed client on its next accept.
    for (int attempt = 0; attempt < 50; ++attempt) {
        auto fourth = connect_to(socket_path());
        // A refused client may find the socket closed before it writes; the refusal is still readable.
        write_all(fourth.get(), "d\n");
        auto reply = json::parse(read_line(fourth.get()));
        if (reply["ok"] == true) {
            SUCCEED();
            return;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    FAIL() << "a slot never became free after a client left";
}

TEST_F(SocketServerTest, ConcurrentClientsAreServedInParallel)
{
    start(8);
    std::vector<std::thread> clients;
    std::atomic<int> answered{0};
    const auto started = std::chrono::steady_clock::now();
    for (int i = 0; i < 4; ++i) {
        clients.emplace_back([&] {
            auto fd = connect_to(socket_path());
            if (write_all(fd.get(), "slow\n") && json::parse(read_line(fd.get()))["ok"] == true) {
                ++answered;
            }
        });
    }
    for (auto& client : clients) {
        client.join();
    }
    EXPECT_EQ(answered.load(), 4);
    // Four 300 ms requests served one after another would take 1.2 s.
    EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::milliseconds(1000));
}

TEST_F(SocketServerTest, IdleClientsAreDisconnectedAndFreeTheirSlot)
{
    start(1, 0, std::chrono::seconds(1));
    auto idle = connect_to(socket_path());
    ASSERT_TRUE(write_all(idle.get(), "a\n"));
    read_line(idle.get());
    char byte = 0;
    const auto started = std::chrono::steady_clock::now();
    EXPECT_EQ(::recv(idle.get(), &byte, 1, 0), 0);  // closed by the server, not by our 10 s timeout
    EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(5));
    auto next = connect_to(socket_path());
    ASSERT_TRUE(write_all(next.get(), "b\n"));
    EXPECT_EQ(json::parse(read_line(next.get()))["result"]["echo"], "b");
}

TEST_F(SocketServerTest, RefusesASocketAnotherServerAnswersOn)
{
    start();
    ServerOptions options;
    options.socket_path = socket_path().string();
    auto second = SocketServer::listen(options, [](std::string_view, const PeerCredentials&) { return ""; });
    ASSERT_FALSE(second.ok());
    EXPECT_EQ(second.error().code, "socket-in-use");
    // The first server is unharmed.
    auto fd = connect_to(socket_path());
    ASSERT_TRUE(write_all(fd.get(), "still\n"));
    EXPECT_EQ(json::parse(read_line(fd.get()))["result"]["echo"], "still");
}

TEST_F(SocketServerTest, ReplacesAStaleSocketAndRemovesItsOwnOnStop)
{
    fs::create_directories(socket_path().parent_path());
    {
        // A bound but never listening socket is what a crashed daemon leaves behind.
        sockaddr_un address{};
        address.sun_family = AF_UNIX;
        std::strncpy(address.sun_path, socket_path().c_str(), sizeof(address.sun_path) - 1);
        UniqueFd stale(::socket(AF_UNIX, SOCK_STREAM, 0));
        ASSERT_EQ(::bind(stale.get(), reinterpret_cast<const sockaddr*>(&address), sizeof(address)), 0);
    }
    ASSERT_TRUE(fs::exists(socket_path()));
    start();
    auto fd = connect_to(socket_path());
    ASSERT_TRUE(fd.valid());
    server_->stop();
    thread_.join();
    server_.reset();
    EXPECT_FALSE(fs::exists(socket_path()));
}

TEST_F(SocketServerTest, StopDisconnectsIdleClients)
{
    start();
    auto idle = connect_to(socket_path());
    ASSERT_TRUE(idle.valid());
    ASSERT_TRUE(write_all(idle.get(), "hello\n"));
    read_line(idle.get());
    server_->stop();
    thread_.join();
    server_.reset();  // would hang if the idle connection's thread were not woken
    char byte = 0;
    EXPECT_EQ(::recv(idle.get(), &byte, 1, 0), 0);
}

TEST(SocketServerPath, RefusesARegularFileAndOverlongPaths)
{
    TempDir dir;
    const auto file = dir.path() / "not-a-socket";
    std::ofstream(file) << "data";
    ServerOptions options;
    options.socket_path = file.string();
    auto handler = [](std::string_view, const PeerCredentials&) { return std::string(); };
    auto on_file = SocketServer::listen(options, handler);
    ASSERT_FALSE(on_file.ok());
    EXPECT_EQ(on_file.error().code, "socket-path-taken");
    EXPECT_TRUE(fs::exists(file));
    options.socket_path = (dir.path() / std::string(200, 'x')).string();
    EXPECT_FALSE(SocketServer::listen(options, handler).ok());
}

}  // namespace
}  // namespace hyv::api
