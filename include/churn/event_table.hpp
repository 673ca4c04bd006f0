#pragma once
// Columnar storage of events: one vector per field, strings dictionary-encoded (a code per row and a
// category list), which is what numpy, pandas and Arrow want and far smaller than rows of strings.
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "event.hpp"

namespace churn {

/// A string column: codes[i] indexes categories; code -1 would never occur (empty string is a category).
struct dictionary_column {
  std::vector<std::int32_t> codes;
  std::vector<std::string> categories;

  void push_back(std::string_view value) {
    auto it = index_.find(std::string(value));
    if (it == index_.end()) {
      categories.emplace_back(value);
      it = index_.emplace(categories.back(), static_cast<std::int32_t>(categories.size() - 1)).first;
    }
    codes.push_back(it->second);
  }
  std::string_view operator[](std::size_t row) const { return categories[static_cast<std::size_t>(codes[row])]; }
  std::size_t size() const noexcept { return codes.size(); }

 private:
  // Keys are copies: categories may reallocate and move the strings a view would point to.
  std::unordered_map<std::string, std::int32_t> index_;
};

/// All 18 fields of a set of events, by column. `page` codes 0..21 are the known pages in enum order
/// (its categories start with the 22 known names), later codes are unknown page names as in the log.
struct event_table {
  std::vector<std::int64_t> ts;
  dictionary_column user_id;
  std::vector<std::int64_t> session_id;
  dictionary_column page;
  std::vector<std::uint8_t> auth;    ///< churn::auth values
  std::vector<std::uint8_t> method;  ///< churn::http_method values
  std::vector<std::int64_t> status;
  std::vector<std::uint8_t> level;  ///< churn::level values
  std::vector<std::int64_t> item_in_session;
  dictionary_column location;
  dictionary_column user_agent;
  dictionary_column last_name;
  dictionary_column first_name;
  std::vector<std::int64_t> registration;
  dictionary_column gender;
  dictionary_column artist;
  dictionary_column song;
  std::vector<double> length;

  event_table() {
    for (auto name : page_names) page.push_back(name);
    page.codes.clear();
  }

  std::size_t size() const noexcept { return ts.size(); }

  void push_back(const event& e) {
    ts.push_back(e.ts);
    user_id.push_back(e.user_id);
    session_id.push_back(e.session_id);
    page.push_back(e.page_name);
    auth.push_back(static_cast<std::uint8_t>(e.auth));
    method.push_back(static_cast<std::uint8_t>(e.method));
    status.push_back(e.status);
    level.push_back(static_cast<std::uint8_t>(e.level));
    item_in_session.push_back(e.item_in_session);
    location.push_back(e.location);
    user_agent.push_back(e.user_agent);
    last_name.push_back(e.last_name);
    first_name.push_back(e.first_name);
    registration.push_back(e.registration);
    gender.push_back(e.gender);
    artist.push_back(e.artist);
    song.push_back(e.song);
    length.push_back(e.length);
  }

  /// The event at `row`, rebuilt from the columns.
  event at(std::size_t row) const {
    event e;
    e.ts = ts[row];
    e.user_id = std::string(user_id[row]);
    e.session_id = session_id[row];
    e.page_name = std::string(page[row]);
    e.page = parse_page(e.page_name);
    e.auth = static_cast<churn::auth>(auth[row]);
    e.method = static_cast<http_method>(method[row]);
    e.status = status[row];
    e.level = static_cast<churn::level>(level[row]);
    e.item_in_session = item_in_session[row];
    e.location = std::string(location[row]);
    e.user_agent = std::string(user_agent[row]);
    e.last_name = std::string(last_name[row]);
    e.first_name = std::string(first_name[row]);
    e.registration = registration[row];
    e.gender = std::string(gender[row]);
    e.artist = std::string(artist[row]);
    e.song = std::string(song[row]);
    e.length = length[row];
    return e;
  }
};

}  // namespace churn
