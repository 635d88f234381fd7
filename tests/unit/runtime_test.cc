#include <gtest/gtest.h>

#include "kube_core/time.h"

namespace umbra::kube {
namespace {

TEST(TimeFormat, MicroTimeRoundTrips) {
  const SystemTime t =
      SystemTime(std::chrono::seconds(1795000000)) + std::chrono::microseconds(123456);
  const std::string s = formatMicroTime(t);
  EXPECT_EQ(s, "2026-11-18T11:06:40.123456Z");
  EXPECT_EQ(parseTime(s).value(), t);
  EXPECT_EQ(formatTime(t), "2026-11-18T11:06:40Z");
  EXPECT_EQ(parseTime("2026-11-18T11:06:40Z").value(),
            SystemTime(std::chrono::seconds(1795000000)));
  EXPECT_FALSE(parseTime("yesterday").has_value());
  EXPECT_FALSE(parseTime("2026-11-18T11:06:40").has_value());
}

}  // namespace
}  // namespace umbra::kube

#include "runtime/action.h"
#include "runtime/controller_builder.h"
#include "runtime/error_policy.h"

namespace umbra::runtime {
namespace {

using namespace std::chrono_literals;

Error withKind(ErrorKind k) {
  return Error::make(k, "x");
}

TEST(ErrorPolicyTest, RetryableErrorsBackOff) {
  for (auto k :
       {ErrorKind::Conflict, ErrorKind::TooManyRequests, ErrorKind::Timeout, ErrorKind::ServerError,
        ErrorKind::Network, ErrorKind::Gone, ErrorKind::Unavailable}) {
    EXPECT_EQ(errorPolicy(withKind(k)).how, Retry::How::Backoff) << toString(k);
  }
}

TEST(ErrorPolicyTest, WhatRetryingCannotFixIsNotHammered) {
  for (auto k : {ErrorKind::Forbidden, ErrorKind::Invalid, ErrorKind::Config, ErrorKind::BadRequest,
                 ErrorKind::Unauthorized, ErrorKind::Terminal, ErrorKind::Internal}) {
    EXPECT_EQ(errorPolicy(withKind(k)).how, Retry::How::Never) << toString(k);
  }
}

TEST(ErrorPolicyTest, RetryAfterIsHonoured) {
  Error e = withKind(ErrorKind::TooManyRequests);
  e.retryAfter = std::chrono::seconds(7);
  EXPECT_EQ(errorPolicy(e), (Retry{Retry::How::After, 7s}));
}

TEST(ErrorTest, WrapKeepsTheKindAndNamesWhatWasBeingDone) {
  Error e = withKind(ErrorKind::Forbidden);
  e.httpCode = 403;
  const Error w = e.wrap("while patching VirtualMachine ns/web");
  EXPECT_EQ(w.message, "while patching VirtualMachine ns/web: x");
  EXPECT_EQ(w.kind, ErrorKind::Forbidden);
  EXPECT_EQ(w.httpCode, 403);
}

TEST(ActionTest, AwaitChangeNeverRequeuesAndNowRequeuesAtOnce) {
  EXPECT_FALSE(Action::awaitChange().requeues());
  EXPECT_EQ(Action::now().requeueAfter, Duration::zero());
  EXPECT_EQ(Action::now(Priority::High).priority, Priority::High);
  EXPECT_EQ(Action::after(5s).requeueAfter, Duration(5s));
  EXPECT_NE(Action::after(5s), Action::after(6s));
}

TEST(ControllerBuilderTest, AnOwnedObjectMapsToItsControllerOwner) {
  const kube::ResourceType owner{"umbra.io", "v1alpha1", "shadowplacements", "ShadowPlacement"};
  const kube::Json shadow = {{"metadata",
                              {{"namespace", "ns"},
                               {"ownerReferences",
                                {{{"apiVersion", "umbra.io/v1alpha1"},
                                  {"kind", "ShadowPlacement"},
                                  {"name", "web"},
                                  {"controller", true}}}}}}};
  EXPECT_EQ(ownerKeyOf(shadow, owner), "ns/web");
  kube::Json notController = shadow;
  notController["metadata"]["ownerReferences"][0]["controller"] = false;
  EXPECT_EQ(ownerKeyOf(notController, owner), "");
  kube::Json otherGroup = shadow;
  otherGroup["metadata"]["ownerReferences"][0]["apiVersion"] = "other.io/v1";
  EXPECT_EQ(ownerKeyOf(otherGroup, owner), "");
}

}  // namespace
}  // namespace umbra::runtime
