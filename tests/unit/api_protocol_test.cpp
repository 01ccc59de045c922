// Request validation of the hyvd API (hyvd/api/protocol.hpp): every malformed input
// becomes one structured error naming the problem.
#include "hyvd/api/protocol.hpp"

#include <gtest/gtest.h>

#include <string>

namespace hyv::api {
namespace {

using nlohmann::json;

Result<Command> parse_line(const std::string& line)
{
    auto request = parse_request(line);
    if (!request) {
        return request.error();
    }
    return parse_command(*request);
}

std::string error_code_of(const std::string& line)
{
    auto command = parse_line(line);
    EXPECT_FALSE(command.ok()) << line;
    return command ? std::string("ok") : command.error().code;
}

TEST(ApiProtocol, AcceptsAWellFormedAttach)
{
    auto command = parse_line(R"({"api":1,"id":7,"cmd":"attach","args":{"vm":"vm1","guid":"0002:C903:00a1:b2c3",)"
                              R"("quota":{"qps":8,"pinned_bytes":1073741824},"persistent":true}})");
    ASSERT_TRUE(command.ok()) << command.error().message;
    const auto& attach = std::get<cmd::Attach>(*command);
    EXPECT_EQ(attach.vm.str(), "vm1");
    EXPECT_EQ(attach.guid.to_string(), "0002:c903:00a1:b2c3");
    EXPECT_EQ(attach.quota.max_qps, 8u);
    EXPECT_EQ(attach.quota.max_cqs, 0u);
    EXPECT_EQ(attach.quota.max_pinned_bytes, 1073741824u);
    EXPECT_TRUE(attach.persistent);
}

TEST(ApiProtocol, EchoesTheRequestIdEvenWhenTheCommandIsBad)
{
    json id;
    auto request = parse_request(R"({"api":1,"id":"abc","cmd":"nope"})", &id);
    ASSERT_TRUE(request.ok());
    EXPECT_EQ(id, "abc");
    auto command = parse_command(*request);
    ASSERT_FALSE(command.ok());
    EXPECT_EQ(command.error().code, errc::unknown_command);
    EXPECT_NE(command.error().message.find("known commands: version, devices"), std::string::npos);
}

TEST(ApiProtocol, RejectsMalformedJson)
{
    EXPECT_EQ(error_code_of(R"({"api":1,"cmd":"devices")"), errc::malformed_json);
    EXPECT_EQ(error_code_of("not json at all"), errc::malformed_json);
    EXPECT_EQ(error_code_of(""), errc::malformed_json);
}

TEST(ApiProtocol, RejectsNonObjectsAndMissingMembers)
{
    EXPECT_EQ(error_code_of(R"([1,2,3])"), errc::bad_request);
    EXPECT_EQ(error_code_of(R"("devices")"), errc::bad_request);
    EXPECT_EQ(error_code_of(R"({"cmd":"devices"})"), errc::bad_request);
    EXPECT_EQ(error_code_of(R"({"api":1})"), errc::bad_request);
    EXPECT_EQ(error_code_of(R"({"api":1,"cmd":42})"), errc::bad_request);
    EXPECT_EQ(error_code_of(R"({"api":1,"cmd":"devices","args":[]})"), errc::bad_request);
    EXPECT_EQ(error_code_of(R"({"api":1,"cmd":"devices","id":{"x":1}})"), errc::bad_request);
    EXPECT_EQ(error_code_of(R"({"api":1,"cmd":"devices","extra":1})"), errc::bad_request);
}

TEST(ApiProtocol, RejectsOtherApiVersions)
{
    EXPECT_EQ(error_code_of(R"({"api":2,"cmd":"devices"})"), errc::unsupported_api);
    EXPECT_EQ(error_code_of(R"({"api":"1","cmd":"devices"})"), errc::bad_request);
}

TEST(ApiProtocol, RejectsOversizedRequests)
{
    const std::string padding(max_request_bytes, ' ');
    EXPECT_EQ(error_code_of(R"({"api":1,"cmd":"devices"})" + padding), errc::request_too_large);
}

TEST(ApiProtocol, UnknownCommandNameIsEchoedSafely)
{
    auto command = parse_line(R"({"api":1,"cmd":"evil\nname"})");
    ASSERT_FALSE(command.ok());
    EXPECT_EQ(command.error().message.find('\n'), std::string::npos);
}

TEST(ApiProtocol, RejectsBadGuids)
{
    EXPECT_EQ(error_code_of(R"({"api":1,"cmd":"attach","args":{"vm":"vm1","guid":"xyz"}})"), errc::invalid_guid);
    EXPECT_EQ(error_code_of(R"({"api":1,"cmd":"attach","args":{"vm":"vm1","guid":"0002:c903:00a1"}})"),
              errc::invalid_guid);
    EXPECT_EQ(error_code_of(R"({"api":1,"cmd":"detach","args":{"vm":"vm1","guid":"0000:0000:0000:0000"}})"),
              errc::invalid_guid);
    EXPECT_EQ(error_code_of(R"({"api":1,"cmd":"attach","args":{"vm":"vm1","guid":17}})"), errc::bad_args);
}

TEST(ApiProtocol, RejectsBadVmNames)
{
    EXPECT_EQ(error_code_of(R"({"api":1,"cmd":"vm-remove","args":{"name":"../etc"}})"), errc::invalid_vm_name);
    EXPECT_EQ(error_code_of(R"({"api":1,"cmd":"vm-remove","args":{"name":"a b"}})"), errc::invalid_vm_name);
    EXPECT_EQ(error_code_of(R"({"api":1,"cmd":"vm-remove","args":{"name":""}})"), errc::invalid_vm_name);
}

TEST(ApiProtocol, ReportsMissingArguments)
{
    auto command = parse_line(R"({"api":1,"cmd":"attach","args":{"vm":"vm1"}})");
    ASSERT_FALSE(command.ok());
    EXPECT_EQ(command.error().code, errc::bad_args);
    EXPECT_NE(command.error().message.find("missing argument \"guid\""), std::string::npos);
    EXPECT_EQ(error_code_of(R"({"api":1,"cmd":"detach"})"), errc::bad_args);
    EXPECT_EQ(error_code_of(R"({"api":1,"cmd":"vm-add","args":{"name":"vm1"}})"), errc::bad_args);
}

TEST(ApiProtocol, RejectsUnknownAndMistypedArguments)
{
    auto command = parse_line(R"({"api":1,"cmd":"attach","args":{"vm":"vm1","guid":"0002:c903:00a1:b2c3",)"
                              R"("persistant":true}})");
    ASSERT_FALSE(command.ok());
    EXPECT_NE(command.error().message.find("unknown argument \"persistant\""), std::string::npos);
    EXPECT_EQ(error_code_of(R"({"api":1,"cmd":"devices","args":{"all":true}})"), errc::bad_args);
    EXPECT_EQ(error_code_of(R"({"api":1,"cmd":"attach","args":{"vm":"vm1","guid":"0002:c903:00a1:b2c3",)"
                            R"("persistent":"yes"}})"),
              errc::bad_args);
}

TEST(ApiProtocol, ValidatesQuotas)
{
    const std::string prefix = R"({"api":1,"cmd":"attach","args":{"vm":"vm1","guid":"0002:c903:00a1:b2c3","quota":)";
    EXPECT_EQ(error_code_of(prefix + R"({"qps":-1}}})"), errc::bad_args);
    EXPECT_EQ(error_code_of(prefix + R"({"qps":1.5}}})"), errc::bad_args);
    EXPECT_EQ(error_code_of(prefix + R"({"qps":4294967296}}})"), errc::bad_args);
    EXPECT_EQ(error_code_of(prefix + R"({"srqs":1}}})"), errc::bad_args);
    EXPECT_EQ(error_code_of(prefix + R"(5}})"), errc::bad_args);
    auto command = parse_line(prefix + R"({"pinned_bytes":18446744073709551615}}})");
    ASSERT_TRUE(command.ok()) << command.error().message;
    EXPECT_EQ(std::get<cmd::Attach>(*command).quota.max_pinned_bytes, 18446744073709551615ull);
}

TEST(ApiProtocol, CarriesTheNetworkIdentity)
{
    const std::string prefix = R"({"api":1,"cmd":"attach","args":{"vm":"vm1","guid":"0002:c903:00a1:b2c3",)";
    auto command = parse_line(prefix + R"("identity":{"addresses":["10.0.0.5/24","fd00::5/64"],)" +
                              R"("mac":"52:54:00:12:34:56","vlan":7}}})");
    ASSERT_TRUE(command.ok()) << command.error().message;
    const auto& identity = std::get<cmd::Attach>(*command).identity;
    ASSERT_EQ(identity.addresses.size(), 2u);
    EXPECT_EQ(identity.addresses[1].to_string(), "fd00::5/64");
    EXPECT_EQ(identity.mac->to_string(), "52:54:00:12:34:56");
    EXPECT_EQ(identity.vlan->value(), 7);
    EXPECT_FALSE(identity.unisolated);
    auto shared = parse_line(prefix + R"("identity":{"unisolated":true}}})");
    ASSERT_TRUE(shared.ok()) << shared.error().message;
    EXPECT_TRUE(std::get<cmd::Attach>(*shared).identity.unisolated);
    // Absent: an empty identity, which the service refuses with the fix (identity-required).
    auto absent = parse_line(prefix + R"("persistent":false}})");
    ASSERT_TRUE(absent.ok());
    EXPECT_TRUE(std::get<cmd::Attach>(*absent).identity.empty());
    EXPECT_EQ(error_code_of(prefix + R"("identity":{"addresses":["10.0.0.5"]}}})"), errc::bad_ip);
    EXPECT_EQ(error_code_of(prefix + R"("identity":{"addresses":["10.0.0.5/24"],"mac":"ff:ff:ff:ff:ff:ff"}}})"),
              errc::bad_mac);
    EXPECT_EQ(error_code_of(prefix + R"("identity":{"addresses":["10.0.0.5/24"],"vlan":0}}})"), errc::bad_vlan);
    EXPECT_EQ(error_code_of(prefix + R"("identity":{"addresses":"10.0.0.5/24"}}})"), errc::bad_args);
    EXPECT_EQ(error_code_of(prefix + R"("identity":{"gateway":"10.0.0.1"}}})"), errc::bad_args);
    EXPECT_EQ(error_code_of(prefix + R"("identity":"unisolated"}})"), errc::bad_args);
}

TEST(ApiProtocol, VmAddNeedsAnAbsoluteQmpPathForQemuAndNoneForLibvirt)
{
    auto qemu = parse_line(R"({"api":1,"cmd":"vm-add","args":{"name":"vm1","qmp":"/run/vm1.qmp"}})");
    ASSERT_TRUE(qemu.ok()) << qemu.error().message;
    EXPECT_EQ(std::get<cmd::VmAdd>(*qemu).kind, VmKind::qemu);
    EXPECT_EQ(std::get<cmd::VmAdd>(*qemu).qmp_socket, "/run/vm1.qmp");
    EXPECT_EQ(error_code_of(R"({"api":1,"cmd":"vm-add","args":{"name":"vm1","qmp":"vm1.qmp"}})"), errc::bad_args);
    auto libvirt = parse_line(R"({"api":1,"cmd":"vm-add","args":{"name":"dom1","kind":"libvirt"}})");
    ASSERT_TRUE(libvirt.ok()) << libvirt.error().message;
    EXPECT_EQ(std::get<cmd::VmAdd>(*libvirt).kind, VmKind::libvirt);
    EXPECT_EQ(error_code_of(R"({"api":1,"cmd":"vm-add","args":{"name":"d","kind":"libvirt","qmp":"/x"}})"),
              errc::bad_args);
    EXPECT_EQ(error_code_of(R"({"api":1,"cmd":"vm-add","args":{"name":"d","kind":"xen"}})"), errc::bad_args);
}

TEST(ApiProtocol, EventsDefaultsAndLimits)
{
    auto defaults = parse_line(R"({"api":1,"cmd":"events"})");
    ASSERT_TRUE(defaults.ok());
    EXPECT_EQ(std::get<cmd::Events>(*defaults).since_id, 0);
    EXPECT_EQ(std::get<cmd::Events>(*defaults).limit, default_event_limit);
    auto given = parse_line(R"({"api":1,"cmd":"events","args":{"since":41,"limit":5}})");
    ASSERT_TRUE(given.ok());
    EXPECT_EQ(std::get<cmd::Events>(*given).since_id, 41);
    EXPECT_EQ(std::get<cmd::Events>(*given).limit, 5u);
    EXPECT_EQ(error_code_of(R"({"api":1,"cmd":"events","args":{"limit":0}})"), errc::bad_args);
    EXPECT_EQ(error_code_of(R"({"api":1,"cmd":"events","args":{"limit":10001}})"), errc::bad_args);
    EXPECT_EQ(error_code_of(R"({"api":1,"cmd":"events","args":{"since":-3}})"), errc::bad_args);
}

TEST(ApiProtocol, DetachTimeoutIsOptionalAndBounded)
{
    auto plain = parse_line(R"({"api":1,"cmd":"detach","args":{"vm":"vm1","guid":"0002:c903:00a1:b2c3"}})");
    ASSERT_TRUE(plain.ok());
    EXPECT_FALSE(std::get<cmd::Detach>(*plain).timeout.has_value());
    auto timed =
        parse_line(R"({"api":1,"cmd":"detach","args":{"vm":"vm1","guid":"0002:c903:00a1:b2c3","timeout_ms":2500}})");
    ASSERT_TRUE(timed.ok());
    EXPECT_EQ(std::get<cmd::Detach>(*timed).timeout, std::chrono::milliseconds(2500));
    EXPECT_EQ(
        error_code_of(R"({"api":1,"cmd":"detach","args":{"vm":"vm1","guid":"0002:c903:00a1:b2c3","timeout_ms":9e99}})"),
        errc::bad_args);
}

TEST(ApiProtocol, ListTakesAnOptionalVm)
{
    auto all = parse_line(R"({"api":1,"cmd":"list"})");
    ASSERT_TRUE(all.ok());
    EXPECT_FALSE(std::get<cmd::List>(*all).vm.has_value());
    auto one = parse_line(R"({"api":1,"cmd":"list","args":{"vm":"vm1"}})");
    ASSERT_TRUE(one.ok());
    EXPECT_EQ(std::get<cmd::List>(*one).vm->str(), "vm1");
}

TEST(ApiProtocol, ResponsesAreSingleLinesWithTheEnvelope)
{
    const auto ok = ok_response(5, json{{"x", "a\nb"}});
    EXPECT_EQ(ok.find('\n'), ok.size() - 1);
    const auto parsed_ok = json::parse(ok);
    EXPECT_EQ(parsed_ok["api"], api_version);
    EXPECT_EQ(parsed_ok["id"], 5);
    EXPECT_EQ(parsed_ok["ok"], true);
    EXPECT_EQ(parsed_ok["result"]["x"], "a\nb");

    const auto error = error_response(nullptr, make_error("unknown-guid", "no such device"));
    const auto parsed_error = json::parse(error);
    EXPECT_EQ(parsed_error["ok"], false);
    EXPECT_TRUE(parsed_error["id"].is_null());
    EXPECT_EQ(parsed_error["error"]["code"], "unknown-guid");
    EXPECT_EQ(parsed_error["error"]["message"], "no such device");
}

TEST(ApiProtocol, InvalidUtf8InAResultDoesNotThrow)
{
    EXPECT_NO_THROW({
        const auto line = ok_response(1, json{{"note", std::string("\xff\xfe")}});
        EXPECT_FALSE(line.empty());
    });
}

}  // namespace
}  // namespace hyv::api
