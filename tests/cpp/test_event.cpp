#include <doctest/doctest.h>

#include <churn/event.hpp>

TEST_CASE("every known page name round-trips through parse_page and to_string") {
  for (std::size_t i = 0; i < churn::known_page_count; ++i) {
    auto p = static_cast<churn::page>(i);
    CHECK(churn::parse_page(churn::to_string(p)) == p);
  }
  CHECK(churn::parse_page("NextSong") == churn::page::next_song);
  CHECK(churn::parse_page("Cancellation Confirmation") == churn::page::cancellation_confirmation);
  CHECK(churn::parse_page("nextsong") == churn::page::unknown);
  CHECK(churn::parse_page("") == churn::page::unknown);
}

TEST_CASE("auth, level and method vocabularies") {
  CHECK(churn::parse_auth("Logged In") == churn::auth::logged_in);
  CHECK(churn::parse_auth("Cancelled") == churn::auth::cancelled);
  CHECK(churn::parse_auth("cancelled") == churn::auth::unknown);
  CHECK(churn::parse_level("paid") == churn::level::paid);
  CHECK(churn::parse_level("gold") == churn::level::unknown);
  CHECK(churn::parse_method("PUT") == churn::http_method::put);
  CHECK(churn::to_string(churn::auth::guest) == "Guest");
}
