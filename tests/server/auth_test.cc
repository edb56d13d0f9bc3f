#include "server/auth.h"

#include "gtest/gtest.h"

namespace optbench::server {
namespace {

constexpr char kTokens[] = R"(# role tokens
aaaaaaaaaaaaaaaaaaaa worker            gpu-box
bbbbbbbbbbbbbbbbbbbb submit,read       alice
cccccccccccccccccccc admin
)";

TEST(AuthenticatorTest, ChecksRolesPerToken) {
  auto auth = Authenticator::Parse(kTokens, "tokens");
  ASSERT_TRUE(auth.ok()) << auth.status();
  EXPECT_EQ(auth->size(), 3u);
  EXPECT_TRUE(auth->Check("Bearer aaaaaaaaaaaaaaaaaaaa", Role::kWorker).ok());
  EXPECT_TRUE(auth->Check("Bearer bbbbbbbbbbbbbbbbbbbb", Role::kSubmit).ok());
  EXPECT_TRUE(auth->Check("Bearer bbbbbbbbbbbbbbbbbbbb", Role::kRead).ok());
  for (Role r : {Role::kWorker, Role::kSubmit, Role::kRead}) {
    EXPECT_TRUE(auth->Check("Bearer cccccccccccccccccccc", r).ok());
  }
  absl::Status denied = auth->Check("Bearer aaaaaaaaaaaaaaaaaaaa", Role::kSubmit);
  EXPECT_EQ(denied.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(denied.message().find("gpu-box"), std::string::npos) << denied;
  EXPECT_NE(denied.message().find("submit"), std::string::npos) << denied;
  // The token itself never appears in a message.
  EXPECT_EQ(denied.message().find("aaaaaaaa"), std::string::npos) << denied;
  EXPECT_EQ(auth->Check("Bearer bbbbbbbbbbbbbbbbbbbb", Role::kWorker).code(),
            absl::StatusCode::kPermissionDenied);
}

TEST(AuthenticatorTest, MissingMalformedAndUnknownAreUnauthenticated) {
  auto auth = Authenticator::Parse(kTokens, "tokens");
  ASSERT_TRUE(auth.ok());
  for (const char* header :
       {"", "aaaaaaaaaaaaaaaaaaaa", "Basic aaaaaaaaaaaaaaaaaaaa", "Bearer aaaaaaaaaaaaaaaaaaab",
        "Bearer aaaaaaaaaaaaaaaaaaaaa", "Bearer ", "bearer aaaaaaaaaaaaaaaaaaaa"}) {
    absl::Status s = auth->Check(header, Role::kRead);
    EXPECT_EQ(s.code(), absl::StatusCode::kUnauthenticated) << header;
    EXPECT_EQ(s.message().find("aaaaaaaa"), std::string::npos) << s;
  }
}

TEST(AuthenticatorTest, ParseErrorsNameSourceAndLine) {
  struct Case {
    const char* text;
    const char* needle;
  };
  const Case cases[] = {
      {"short worker\n", "tokens:1: token is shorter than 16"},
      {"\n# x\ndddddddddddddddddddd wizard\n", "tokens:3: unknown role 'wizard'"},
      {"dddddddddddddddddddd\n", "tokens:1: expected"},
      {"dddddddddddddddddddd read a b\n", "tokens:1: expected"},
      {"dddddddddddddddddddd read x\ndddddddddddddddddddd worker\n",
       "tokens:2: duplicate token (also x)"},
      {"# nothing\n\n", "tokens: no tokens"},
  };
  for (const Case& c : cases) {
    auto auth = Authenticator::Parse(c.text, "tokens");
    ASSERT_FALSE(auth.ok()) << c.text;
    EXPECT_EQ(auth.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(auth.status().message().find(c.needle), std::string::npos) << auth.status();
  }
  EXPECT_EQ(Authenticator::FromFile("/nonexistent/tokens").status().code(),
            absl::StatusCode::kNotFound);
}

TEST(AuthenticatorTest, LoopbackHosts) {
  for (const char* h : {"127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost"}) {
    EXPECT_TRUE(IsLoopbackHost(h)) << h;
  }
  for (const char* h : {"0.0.0.0", "", "::", "[::]", "10.0.0.1", "example.com", "128.0.0.1",
                        "127.0.0.1.evil.example", "127.evil.example", "::2"}) {
    EXPECT_FALSE(IsLoopbackHost(h)) << h;
  }
}

}  // namespace
}  // namespace optbench::server
