// docs/api.md promises clients a complete list of error codes; this keeps its table and
// common/hyv/error_codes.hpp, where every producer takes its codes from, the same list.
#include "hyv/error_codes.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace hyv {
namespace {

std::string source_file(const std::string& relative)
{
    std::ifstream in(std::string(HYV_SOURCE_ROOT) + "/" + relative);
    EXPECT_TRUE(in) << "cannot read " << relative;
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

// Every capture of `pattern`'s first group, in order, duplicates kept.
std::vector<std::string> matches(const std::string& text, const std::regex& pattern)
{
    std::vector<std::string> found;
    for (std::sregex_iterator it(text.begin(), text.end(), pattern), end; it != end; ++it) {
        found.push_back((*it)[1].str());
    }
    return found;
}

// The first column of the table in the "Error codes" section.
std::vector<std::string> documented_codes()
{
    const std::string api = source_file("docs/api.md");
    const auto begin = api.find("\n## Error codes\n");
    EXPECT_NE(begin, std::string::npos) << "docs/api.md has no \"## Error codes\" section";
    const auto end = api.find("\n## ", begin + 1);
    return matches(api.substr(begin, end - begin), std::regex(R"(\n\| `([^`]+)` \|)"));
}

std::vector<std::string> declared_codes()
{
    return matches(source_file("common/hyv/error_codes.hpp"),
                   std::regex(R"re(inline constexpr const char\* \w+ = "([^"]+)";)re"));
}

std::set<std::string> unique(const std::vector<std::string>& codes, const char* where)
{
    std::set<std::string> seen;
    for (const auto& code : codes) {
        EXPECT_TRUE(seen.insert(code).second) << code << " is listed twice in " << where;
    }
    return seen;
}

std::vector<std::string> missing_from(const std::set<std::string>& codes, const std::set<std::string>& in)
{
    std::vector<std::string> missing;
    for (const auto& code : codes) {
        if (!in.count(code)) {
            missing.push_back(code);
        }
    }
    return missing;
}

TEST(ErrorCodes, DocsTableAndHeaderListTheSameCodes)
{
    const auto documented = unique(documented_codes(), "docs/api.md");
    const auto declared = unique(declared_codes(), "error_codes.hpp");
    // A parse that found nothing would make the comparison below pass vacuously.
    ASSERT_GT(declared.size(), 50u);
    EXPECT_EQ(missing_from(declared, documented), std::vector<std::string>{})
        << "codes in common/hyv/error_codes.hpp without a row in docs/api.md";
    EXPECT_EQ(missing_from(documented, declared), std::vector<std::string>{})
        << "codes in docs/api.md's table that common/hyv/error_codes.hpp does not declare";
}

TEST(ErrorCodes, HeaderParseSeesTheCompiledConstants)
{
    const auto declared = unique(declared_codes(), "error_codes.hpp");
    for (const char* code : {errc::request_too_large, errc::unknown_guid, errc::qmp_device_not_found,
                             errc::hot_remove_timeout, errc::unknown}) {
        EXPECT_TRUE(declared.count(code)) << code;
    }
}

}  // namespace
}  // namespace hyv
