// gMock matchers and assertion macros for absl::Status and absl::StatusOr<T> (Abseil 20220623 ships
// none). Each matcher takes either type:
//
//   EXPECT_THAT(store->GetJob("s-00000000-0"), StatusIs(absl::StatusCode::kNotFound));
//   EXPECT_THAT(scheduler.Heartbeat(id, old_token, 5),
//               StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("stale lease")));
//   EXPECT_THAT(store->UpsertWorker(worker), IsOk());
//   EXPECT_THAT(store->ListSweeps(10), IsOkAndHolds(SizeIs(2)));
//   ASSERT_OK(store->UpsertWorker(worker));                  // Stops the test on an error.
//   ASSERT_OK_AND_ASSIGN(JobRecord job, store->GetJob(id));  // Declares `job`, or stops.
//
// A mismatch prints the actual status (code and message).
#ifndef OPTBENCH_TESTS_TESTING_STATUS_MATCHERS_H_
#define OPTBENCH_TESTS_TESTING_STATUS_MATCHERS_H_

#include <ostream>
#include <string>
#include <type_traits>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace optbench::testing {
namespace internal_status {

inline const absl::Status& GetStatus(const absl::Status& status) { return status; }

template <typename T>
const absl::Status& GetStatus(const absl::StatusOr<T>& status_or) {
  return status_or.status();
}

// The check of StatusIs, shared by every status type it is used on.
class StatusIsCheck {
 public:
  StatusIsCheck(::testing::Matcher<absl::StatusCode> code,
                ::testing::Matcher<const std::string&> message)
      : code_(std::move(code)), message_(std::move(message)) {}

  void DescribeTo(std::ostream* os) const {
    *os << "has a status code that ";
    code_.DescribeTo(os);
    *os << ", and a message that ";
    message_.DescribeTo(os);
  }

  void DescribeNegationTo(std::ostream* os) const {
    *os << "has a status code that ";
    code_.DescribeNegationTo(os);
    *os << ", or a message that ";
    message_.DescribeNegationTo(os);
  }

  bool MatchAndExplain(const absl::Status& status, ::testing::MatchResultListener* listener) const {
    *listener << "whose status is " << status;
    ::testing::StringMatchResultListener inner;
    if (!code_.MatchAndExplain(status.code(), &inner)) {
      if (!inner.str().empty()) *listener << ", and whose code " << inner.str();
      return false;
    }
    if (!message_.MatchAndExplain(std::string(status.message()), &inner)) {
      if (!inner.str().empty()) *listener << ", and whose message " << inner.str();
      return false;
    }
    return true;
  }

 private:
  const ::testing::Matcher<absl::StatusCode> code_;
  const ::testing::Matcher<const std::string&> message_;
};

// StatusIs for one status type (`StatusType` is `const absl::Status&`, `const StatusOr<T>&`...).
template <typename StatusType>
class MonoStatusIsMatcher : public ::testing::MatcherInterface<StatusType> {
 public:
  explicit MonoStatusIsMatcher(StatusIsCheck check) : check_(std::move(check)) {}
  void DescribeTo(std::ostream* os) const override { check_.DescribeTo(os); }
  void DescribeNegationTo(std::ostream* os) const override { check_.DescribeNegationTo(os); }
  bool MatchAndExplain(StatusType actual, ::testing::MatchResultListener* listener) const override {
    return check_.MatchAndExplain(GetStatus(actual), listener);
  }

 private:
  const StatusIsCheck check_;
};

// What StatusIs returns: converts to a matcher of whichever status type it meets.
class StatusIsMatcher {
 public:
  explicit StatusIsMatcher(StatusIsCheck check) : check_(std::move(check)) {}

  template <typename StatusType>
  operator ::testing::Matcher<StatusType>() const {  // NOLINT: implicit by design.
    using Arg = const std::decay_t<StatusType>&;
    return ::testing::Matcher<StatusType>(
        ::testing::MakeMatcher(new MonoStatusIsMatcher<Arg>(check_)));
  }

 private:
  StatusIsCheck check_;
};

// IsOk for one status type.
template <typename StatusType>
class MonoIsOkMatcher : public ::testing::MatcherInterface<StatusType> {
 public:
  void DescribeTo(std::ostream* os) const override { *os << "is OK"; }
  void DescribeNegationTo(std::ostream* os) const override { *os << "is not OK"; }
  bool MatchAndExplain(StatusType actual, ::testing::MatchResultListener* listener) const override {
    const absl::Status& status = GetStatus(actual);
    if (!status.ok()) *listener << "whose status is " << status;
    return status.ok();
  }
};

class IsOkMatcher {
 public:
  template <typename StatusType>
  operator ::testing::Matcher<StatusType>() const {  // NOLINT: implicit by design.
    using Arg = const std::decay_t<StatusType>&;
    return ::testing::Matcher<StatusType>(::testing::MakeMatcher(new MonoIsOkMatcher<Arg>()));
  }
};

// IsOkAndHolds for one StatusOr type.
template <typename StatusOrType>
class MonoIsOkAndHoldsMatcher : public ::testing::MatcherInterface<StatusOrType> {
 public:
  using Value = typename std::decay_t<StatusOrType>::value_type;

  explicit MonoIsOkAndHoldsMatcher(::testing::Matcher<const Value&> inner)
      : inner_(std::move(inner)) {}
  void DescribeTo(std::ostream* os) const override {
    *os << "is OK and holds a value that ";
    inner_.DescribeTo(os);
  }
  void DescribeNegationTo(std::ostream* os) const override {
    *os << "is not OK, or holds a value that ";
    inner_.DescribeNegationTo(os);
  }
  bool MatchAndExplain(StatusOrType actual,
                       ::testing::MatchResultListener* listener) const override {
    if (!actual.ok()) {
      *listener << "whose status is " << actual.status();
      return false;
    }
    ::testing::StringMatchResultListener inner;
    const bool matches = inner_.MatchAndExplain(*actual, &inner);
    if (!inner.str().empty()) *listener << "whose value " << inner.str();
    return matches;
  }

 private:
  const ::testing::Matcher<const Value&> inner_;
};

template <typename InnerMatcher>
class IsOkAndHoldsMatcher {
 public:
  explicit IsOkAndHoldsMatcher(InnerMatcher inner) : inner_(std::move(inner)) {}

  template <typename StatusOrType>
  operator ::testing::Matcher<StatusOrType>() const {  // NOLINT: implicit by design.
    using Arg = const std::decay_t<StatusOrType>&;
    using Value = typename std::decay_t<StatusOrType>::value_type;
    return ::testing::Matcher<StatusOrType>(::testing::MakeMatcher(
        new MonoIsOkAndHoldsMatcher<Arg>(::testing::SafeMatcherCast<const Value&>(inner_))));
  }

 private:
  const InnerMatcher inner_;
};

}  // namespace internal_status

// Matches an absl::Status or absl::StatusOr<T> whose code matches `code` (a StatusCode or a
// matcher of one) and whose message matches `message` (a string, compared whole, or a string
// matcher such as HasSubstr). Without `message`, any message.
template <typename CodeMatcher, typename MessageMatcher>
internal_status::StatusIsMatcher StatusIs(CodeMatcher&& code, MessageMatcher&& message) {
  return internal_status::StatusIsMatcher(internal_status::StatusIsCheck(
      ::testing::MatcherCast<absl::StatusCode>(std::forward<CodeMatcher>(code)),
      ::testing::MatcherCast<const std::string&>(std::forward<MessageMatcher>(message))));
}
template <typename CodeMatcher>
internal_status::StatusIsMatcher StatusIs(CodeMatcher&& code) {
  return StatusIs(std::forward<CodeMatcher>(code), ::testing::A<const std::string&>());
}

// Matches an OK absl::Status, or an absl::StatusOr<T> that holds a value.
inline internal_status::IsOkMatcher IsOk() { return {}; }

// Matches an absl::StatusOr<T> that holds a value matching `inner` (a value of T or a matcher).
template <typename InnerMatcher>
internal_status::IsOkAndHoldsMatcher<std::decay_t<InnerMatcher>> IsOkAndHolds(
    InnerMatcher&& inner) {
  return internal_status::IsOkAndHoldsMatcher<std::decay_t<InnerMatcher>>(
      std::forward<InnerMatcher>(inner));
}

}  // namespace optbench::testing

#define OPTBENCH_TESTING_CONCAT_INNER_(a, b) a##b
#define OPTBENCH_TESTING_CONCAT_(a, b) OPTBENCH_TESTING_CONCAT_INNER_(a, b)

// EXPECT_OK / ASSERT_OK: the status (or StatusOr) `expr` is OK; a failure prints the status.
#define EXPECT_OK(expr) EXPECT_THAT((expr), ::optbench::testing::IsOk())
#define ASSERT_OK(expr) ASSERT_THAT((expr), ::optbench::testing::IsOk())

// ASSERT_OK_AND_ASSIGN(lhs, rexpr): `rexpr` is an OK StatusOr; moves its value into `lhs` (which
// may declare a variable), or stops the test printing the status.
#define ASSERT_OK_AND_ASSIGN(lhs, rexpr) \
  ASSERT_OK_AND_ASSIGN_IMPL_(OPTBENCH_TESTING_CONCAT_(statusor_, __LINE__), lhs, rexpr)
#define ASSERT_OK_AND_ASSIGN_IMPL_(statusor, lhs, rexpr) \
  auto statusor = (rexpr);                               \
  ASSERT_TRUE(statusor.ok()) << statusor.status();       \
  lhs = std::move(statusor).value()

#endif  // OPTBENCH_TESTS_TESTING_STATUS_MATCHERS_H_
