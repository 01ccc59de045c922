// Human-readable rendering of hyvd API results (the JSON shapes of docs/api.md).
// Input is the "result" member; output is ready to print, ending with a newline.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace hyv::cli {

// Left-aligned columns separated by two spaces; no trailing spaces. An empty `rows`
// still prints the header so scripts and people see which columns exist.
std::string render_table(const std::vector<std::string>& headers, const std::vector<std::vector<std::string>>& rows);

std::string format_devices(const nlohmann::json& devices);
std::string format_vms(const nlohmann::json& vms);
std::string format_vm(const nlohmann::json& vm);
std::string format_assignments(const nlohmann::json& assignments);
std::string format_operation(const std::string& verb, const nlohmann::json& operation);
std::string format_status(const nlohmann::json& status);
std::string format_events(const nlohmann::json& events);
std::string format_reconcile(const nlohmann::json& report);

// "2026-11-22 04:06:59" in local time from Unix epoch milliseconds; "-" for null/0.
std::string format_time(const nlohmann::json& epoch_ms);
// 1073741824 → "1 GiB"; exact binary units only, otherwise bytes.
std::string format_bytes(std::uint64_t bytes);

}  // namespace hyv::cli
