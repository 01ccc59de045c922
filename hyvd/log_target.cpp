#include "hyvd/log_target.hpp"

#include "hyv/error_codes.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <systemd/sd-journal.h>
#include <unistd.h>

#include <fmt/format.h>
#include <spdlog/details/os.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <charconv>
#include <mutex>

namespace hyv::daemon {

namespace {

// Each entry is sent with sd_journal_sendv, this thread's LogFields attached.
class JournalSink final : public spdlog::sinks::base_sink<std::mutex> {
protected:
    void sink_it_(const spdlog::details::log_msg& msg) override
    {
        const auto fields = journal_fields(msg.level, std::string_view(msg.payload.data(), msg.payload.size()),
                                           current_log_fields(), "hyvd", static_cast<long>(msg.thread_id));
        std::vector<iovec> entry;
        entry.reserve(fields.size());
        for (const auto& field : fields) {
            entry.push_back(iovec{const_cast<char*>(field.data()), field.size()});
        }
        (void)sd_journal_sendv(entry.data(), static_cast<int>(entry.size()));
    }
    void flush_() override {}
};

bool parse_number(std::string_view text, unsigned long long& out)
{
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), out);
    return error == std::errc() && end == text.data() + text.size() && !text.empty();
}

bool journal_listens(const std::string& socket_path)
{
    struct stat st {};
    return ::stat(socket_path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode);
}

}  // namespace

bool stderr_is_journal(const char* journal_stream, dev_t stderr_dev, ino_t stderr_ino)
{
    if (journal_stream == nullptr) {
        return false;
    }
    const std::string_view value(journal_stream);
    const auto colon = value.find(':');
    unsigned long long dev = 0;
    unsigned long long ino = 0;
    if (colon == std::string_view::npos || !parse_number(value.substr(0, colon), dev) ||
        !parse_number(value.substr(colon + 1), ino)) {
        return false;
    }
    return dev == static_cast<unsigned long long>(stderr_dev) && ino == static_cast<unsigned long long>(stderr_ino);
}

Result<LogTarget> choose_log_target(const std::string& option, const char* journal_stream,
                                    const std::string& socket_path)
{
    if (option == "stderr") {
        return LogTarget::stderr_text;
    }
    if (option == "journal") {
        if (!journal_listens(socket_path)) {
            return make_error(errc::config, fmt::format("--log-target journal: journald is not running (no socket "
                                                        "{}); use --log-target stderr or auto",
                                                        socket_path));
        }
        return LogTarget::journal;
    }
    struct stat st {};
    const bool to_journal = ::fstat(STDERR_FILENO, &st) == 0 && stderr_is_journal(journal_stream, st.st_dev, st.st_ino);
    return to_journal && journal_listens(socket_path) ? LogTarget::journal : LogTarget::stderr_text;
}

int journal_priority(spdlog::level::level_enum level)
{
    switch (level) {
    case spdlog::level::critical: return 2;
    case spdlog::level::err: return 3;
    case spdlog::level::warn: return 4;
    case spdlog::level::info: return 6;
    default: return 7;
    }
}

std::vector<std::string> journal_fields(spdlog::level::level_enum level, std::string_view message,
                                        const LogFields& fields, std::string_view identifier, long tid)
{
    std::vector<std::string> out{
        fmt::format("MESSAGE={}", message),
        fmt::format("PRIORITY={}", journal_priority(level)),
        fmt::format("SYSLOG_IDENTIFIER={}", identifier),
        fmt::format("TID={}", tid),
    };
    const std::pair<const char*, const std::string*> named[] = {
        {"HYV_OP_ID", &fields.op_id}, {"HYV_VM", &fields.vm}, {"HYV_GUID", &fields.guid}, {"HYV_MDEV", &fields.mdev}};
    for (const auto& [name, value] : named) {
        if (!value->empty()) {
            out.push_back(fmt::format("{}={}", name, *value));
        }
    }
    return out;
}

void setup_logging(LogTarget target, const std::string& level)
{
    std::shared_ptr<spdlog::logger> logger;
    if (target == LogTarget::journal) {
        // journald stamps time, priority, pid and unit itself.
        logger = std::make_shared<spdlog::logger>("hyvd", std::make_shared<JournalSink>());
        spdlog::register_logger(logger);
    } else {
        logger = spdlog::stderr_color_mt("hyvd");
        logger->set_pattern("%Y-%m-%d %H:%M:%S.%e %^%l%$ [%t] %v");
    }
    spdlog::set_default_logger(logger);
    spdlog::set_level(spdlog::level::from_str(level));
    // Operations are rare and each line matters after a crash.
    spdlog::flush_on(spdlog::level::info);
}

}  // namespace hyv::daemon
