#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <memory>
#include <string>

#include <churn/arrow.hpp>

namespace {

std::shared_ptr<churn::event_table> quirks_table() {
  auto table = std::make_shared<churn::event_table>();
  churn::read_event_table({std::string(CHURN_TEST_DATA_DIR) + "/events/quirks.jsonl"}, *table);
  return table;
}

bool valid(const ArrowArray* a, std::size_t row) {
  const auto* bits = static_cast<const std::uint8_t*>(a->buffers[0]);
  return bits == nullptr || ((bits[row >> 3] >> (row & 7)) & 1) != 0;
}

}  // namespace

TEST_CASE("the schema: 18 fields, timestamps in ms UTC, strings dictionary<int32, utf8>, ts not nullable") {
  ArrowSchema schema;
  churn::export_event_schema(&schema);
  REQUIRE((schema.release != nullptr));
  CHECK(std::string(schema.format) == "+s");
  REQUIRE(schema.n_children == 18);
  for (std::int64_t i = 0; i < 18; ++i) CHECK(std::string(schema.children[i]->name) == churn::field_names[i]);
  CHECK(std::string(schema.children[0]->format) == "tsm:UTC");
  CHECK(schema.children[0]->flags == 0);
  CHECK(std::string(schema.children[13]->format) == "tsm:UTC");
  CHECK(std::string(schema.children[2]->format) == "l");
  CHECK(std::string(schema.children[17]->format) == "g");
  CHECK(std::string(schema.children[1]->format) == "i");
  REQUIRE(schema.children[1]->dictionary != nullptr);
  CHECK(std::string(schema.children[1]->dictionary->format) == "u");
  CHECK(schema.children[1]->flags == ARROW_FLAG_NULLABLE);
  // A consumer may move a child out and release it on its own; the parent then skips it.
  ArrowSchema moved = *schema.children[5];
  schema.children[5]->release = nullptr;
  schema.release(&schema);
  CHECK((schema.release == nullptr));
  CHECK(std::string(moved.name) == "method");
  moved.release(&moved);
}

TEST_CASE("the array shares the table's buffers, marks nulls, and keeps the table alive until released") {
  auto table = quirks_table();
  const std::int64_t* session_ids = table->session_id.data();
  const std::int32_t* user_codes = table->user_id.codes.data();
  ArrowArray array;
  churn::export_event_array(table, &array);
  std::weak_ptr<churn::event_table> watch = table;
  table.reset();
  REQUIRE_FALSE(watch.expired());  // the export holds it
  REQUIRE(array.length == 3);
  REQUIRE(array.n_children == 18);
  const ArrowArray* session = array.children[2];
  CHECK(session->buffers[1] == session_ids);  // no copy
  CHECK(session->null_count == 1);            // the third line has none
  CHECK_FALSE(valid(session, 2));
  const ArrowArray* registration = array.children[13];
  CHECK(registration->null_count == 1);
  CHECK(valid(registration, 0));
  CHECK_FALSE(valid(registration, 1));
  CHECK(static_cast<const std::int64_t*>(registration->buffers[1])[2] == 1538173362000);
  const ArrowArray* length = array.children[17];
  CHECK(length->null_count == 2);
  CHECK(static_cast<const double*>(length->buffers[1])[0] == doctest::Approx(277.89016));
  const ArrowArray* user = array.children[1];
  CHECK(user->buffers[1] == user_codes);
  CHECK(user->null_count == 0);  // "" is a value
  const ArrowArray* dict = user->dictionary;
  REQUIRE(dict != nullptr);
  CHECK(dict->n_buffers == 3);
  const auto* offsets = static_cast<const std::int32_t*>(dict->buffers[1]);
  const auto* bytes = static_cast<const char*>(dict->buffers[2]);
  const auto code = static_cast<const std::int32_t*>(user->buffers[1])[2];
  CHECK(std::string(bytes + offsets[code], bytes + offsets[code + 1]) == "9");
  const ArrowArray* auth = array.children[4];
  CHECK(auth->null_count == 1);
  CHECK_FALSE(valid(auth, 2));
  // Release a child alone first, then the parent: the table goes with the last one.
  ArrowArray moved = *array.children[16];
  array.children[16]->release = nullptr;
  array.release(&array);
  CHECK_FALSE(watch.expired());
  moved.release(&moved);
  CHECK(watch.expired());
}

TEST_CASE("the stream gives the schema, one batch, then the end") {
  auto table = quirks_table();
  ArrowArrayStream stream;
  churn::export_event_stream(table, &stream);
  ArrowSchema schema;
  REQUIRE(stream.get_schema(&stream, &schema) == 0);
  CHECK(schema.n_children == 18);
  schema.release(&schema);
  ArrowArray batch;
  REQUIRE(stream.get_next(&stream, &batch) == 0);
  REQUIRE((batch.release != nullptr));
  CHECK(batch.length == 3);
  ArrowArray end;
  REQUIRE(stream.get_next(&stream, &end) == 0);
  CHECK((end.release == nullptr));
  CHECK(stream.get_last_error(&stream) == nullptr);
  stream.release(&stream);
  CHECK((stream.release == nullptr));
  batch.release(&batch);  // a batch outlives its stream
}

TEST_CASE("an empty table exports non-null buffers") {
  auto table = std::make_shared<churn::event_table>();
  ArrowArray array;
  churn::export_event_array(table, &array);
  CHECK(array.length == 0);
  for (std::int64_t i = 0; i < array.n_children; ++i) CHECK(array.children[i]->buffers[1] != nullptr);
  array.release(&array);
}
