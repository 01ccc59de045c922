// Where hyvd logs: stderr (a terminal, a file, a plain service manager) or the systemd journal,
// with priorities and the fields of hyv::LogFields (HYV_OP_ID, HYV_VM, HYV_GUID, HYV_MDEV) so
// that `journalctl -u hyvd -p warning` and `journalctl HYV_VM=vm1` select hyvd's lines.
#pragma once

#include "hyv/log_fields.hpp"
#include "hyv/result.hpp"

#include <spdlog/common.h>
#include <sys/types.h>

#include <string>
#include <string_view>
#include <vector>

namespace hyv::daemon {

enum class LogTarget { stderr_text, journal };

// journald's socket; sd_journal_send writes to it.
inline constexpr const char* journal_socket_path = "/run/systemd/journal/socket";

// Whether stderr is connected to the journal: systemd sets JOURNAL_STREAM to "<dev>:<inode>" of
// the stream it gives the service; it is ours only while stderr is still that file.
bool stderr_is_journal(const char* journal_stream, dev_t stderr_dev, ino_t stderr_ino);

// --log-target: "stderr", "journal" or "auto" (journal when stderr_is_journal for fd 2). Error
// "config" for "journal" when no journald listens at `socket_path`.
Result<LogTarget> choose_log_target(const std::string& option, const char* journal_stream,
                                    const std::string& socket_path = journal_socket_path);

// syslog priority of a spdlog level (trace and debug: 7, info: 6, warn: 4, error: 3, critical: 2).
int journal_priority(spdlog::level::level_enum level);

// The "NAME=value" fields of one journal entry: MESSAGE, PRIORITY, SYSLOG_IDENTIFIER, TID and the
// non-empty HYV_* fields. Values may hold any byte, newlines included (the native protocol allows it).
std::vector<std::string> journal_fields(spdlog::level::level_enum level, std::string_view message,
                                        const LogFields& fields, std::string_view identifier, long tid);

// Makes the default logger "hyvd" write to `target` at `level` (trace .. error).
void setup_logging(LogTarget target, const std::string& level);

}  // namespace hyv::daemon
