// JSON shapes of the core service's results, as the API returns them (docs/api.md lists
// every field). Kept apart from the dispatcher so the shapes are testable without a service.
#pragma once

#include "hyvd/core/service.hpp"

#include <nlohmann/json.hpp>

namespace hyv::api {

nlohmann::json to_json(const Quota& quota);
nlohmann::json to_json(const core::DeviceView& device);
nlohmann::json to_json(const core::VmRecord& vm);
nlohmann::json to_json(const core::VmView& vm);
nlohmann::json to_json(const core::Assignment& assignment);
nlohmann::json to_json(const core::OperationResult& operation);
nlohmann::json to_json(const core::StatusReport& status);
nlohmann::json to_json(const core::Event& event);
nlohmann::json to_json(const core::ReconcileReport& report);

template <typename T>
nlohmann::json to_json_array(const std::vector<T>& items)
{
    auto array = nlohmann::json::array();
    for (const auto& item : items) {
        array.push_back(to_json(item));
    }
    return array;
}

}  // namespace hyv::api
