// Non-throwing field access. QEMU runs guest-influenced code, so hyvd treats its JSON as
// untrusted: a field of the wrong type reads as absent instead of throwing.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace hyv::qmp::detail {

inline std::string string_field(const nlohmann::json& object, const char* key)
{
    if (!object.is_object()) {
        return {};
    }
    auto it = object.find(key);
    return it != object.end() && it->is_string() ? it->get<std::string>() : std::string{};
}

inline long long int_field(const nlohmann::json& object, const char* key, long long fallback = 0)
{
    if (!object.is_object()) {
        return fallback;
    }
    auto it = object.find(key);
    return it != object.end() && it->is_number_integer() ? it->get<long long>() : fallback;
}

inline const nlohmann::json& object_field(const nlohmann::json& object, const char* key)
{
    static const nlohmann::json kNull;
    if (!object.is_object()) {
        return kNull;
    }
    auto it = object.find(key);
    return it != object.end() ? *it : kNull;
}

}  // namespace hyv::qmp::detail
