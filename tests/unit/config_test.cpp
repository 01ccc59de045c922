// hyvd's settings as a reload sees them: the config file read again through the same options,
// and which changed settings only a restart applies.
#include "hyvd/config.hpp"

#include <CLI/CLI.hpp>
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace {

using hyv::daemon::DaemonConfig;

DaemonConfig read_settings(const std::string& text)
{
    const auto path = std::filesystem::temp_directory_path() / ("hyvd-config-test-" + std::to_string(::getpid()));
    std::ofstream(path) << text;
    CLI::App app{"hyvd", "hyvd"};
    DaemonConfig config;
    hyv::daemon::add_options(app, config);
    const std::string config_arg = path.string();
    std::vector<const char*> argv{"hyvd", "--config", config_arg.c_str()};
    app.parse(static_cast<int>(argv.size()), argv.data());
    std::filesystem::remove(path);
    EXPECT_TRUE(hyv::daemon::resolve(config));
    return config;
}

TEST(ConfigReload, LogLevelAloneNeedsNoRestart)
{
    const auto running = read_settings("log-level = \"info\"\n");
    const auto reread = read_settings("log-level = \"debug\"\n");
    EXPECT_EQ(reread.log_level, "debug");
    EXPECT_TRUE(hyv::daemon::restart_only_changes(running, reread).empty());
}

TEST(ConfigReload, NamesEverySettingBoundAtStart)
{
    const auto running = read_settings("");
    const auto reread = read_settings("socket-mode = \"0600\"\nmetrics-interval = 60\ndefault-quota-qps = 8\n"
                                      "mdev-lifecycle = \"orchestrator\"\nlog-level = \"warn\"\n");
    EXPECT_EQ(hyv::daemon::restart_only_changes(running, reread),
              (std::vector<std::string>{"socket-mode", "mdev-lifecycle", "metrics-interval", "default-quota-*"}));
}

TEST(ConfigReload, AFileThatNoLongerParsesIsAnError)
{
    EXPECT_THROW(read_settings("log-levle = \"debug\"\n"), CLI::ParseError);
}

}  // namespace
