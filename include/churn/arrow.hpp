#pragma once
// An event table through the Arrow C data interface
// (https://arrow.apache.org/docs/format/CDataInterface.html and CStreamInterface.html): the ABI
// structs, declared here as the specification gives them (no Arrow library is needed), and exporters
// that hand an event_table's buffers to any Arrow consumer (pyarrow, polars, DuckDB, pandas through
// pyarrow) without copying them. The consumer's release callbacks keep the table alive.
//
// The schema: a struct of the 18 fields in field_names order; ts and registration timestamp[ms, UTC],
// sessionId, status and itemInSession int64, length float64, every string field dictionary<int32,
// utf8>. Only ts is not nullable; nulls are validity bitmaps (built at export, 1 bit a row a column
// that has nulls), the values under them unspecified.
#include <array>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "event_table.hpp"

extern "C" {
#ifndef ARROW_C_DATA_INTERFACE
#define ARROW_C_DATA_INTERFACE

#define ARROW_FLAG_DICTIONARY_ORDERED 1
#define ARROW_FLAG_NULLABLE 2
#define ARROW_FLAG_MAP_KEYS_SORTED 4

struct ArrowSchema {
  const char* format;
  const char* name;
  const char* metadata;
  int64_t flags;
  int64_t n_children;
  struct ArrowSchema** children;
  struct ArrowSchema* dictionary;
  void (*release)(struct ArrowSchema*);
  void* private_data;
};

struct ArrowArray {
  int64_t length;
  int64_t null_count;
  int64_t offset;
  int64_t n_buffers;
  int64_t n_children;
  const void** buffers;
  struct ArrowArray** children;
  struct ArrowArray* dictionary;
  void (*release)(struct ArrowArray*);
  void* private_data;
};

#endif  // ARROW_C_DATA_INTERFACE

#ifndef ARROW_C_STREAM_INTERFACE
#define ARROW_C_STREAM_INTERFACE

struct ArrowArrayStream {
  int (*get_schema)(struct ArrowArrayStream*, struct ArrowSchema* out);
  int (*get_next)(struct ArrowArrayStream*, struct ArrowArray* out);
  const char* (*get_last_error)(struct ArrowArrayStream*);
  void (*release)(struct ArrowArrayStream*);
  void* private_data;
};

#endif  // ARROW_C_STREAM_INTERFACE
}

namespace churn {

namespace detail {

/// What an exported schema owns: its strings and its children.
struct arrow_schema_owner {
  std::string format;
  std::string name;
  std::vector<std::unique_ptr<ArrowSchema>> children;
  std::vector<ArrowSchema*> child_pointers;
  std::unique_ptr<ArrowSchema> dictionary;
};

inline void release_arrow_schema(ArrowSchema* schema) {
  if (schema == nullptr || schema->release == nullptr) return;
  // Children moved out by the consumer are marked released; the rest are released here.
  for (std::int64_t i = 0; i < schema->n_children; ++i)
    if (schema->children[i]->release != nullptr) schema->children[i]->release(schema->children[i]);
  if (schema->dictionary != nullptr && schema->dictionary->release != nullptr)
    schema->dictionary->release(schema->dictionary);
  delete static_cast<arrow_schema_owner*>(schema->private_data);
  schema->release = nullptr;
}

inline arrow_schema_owner& init_arrow_schema(ArrowSchema* out, std::string format, std::string name,
                                             std::int64_t flags) {
  auto* owner = new arrow_schema_owner{std::move(format), std::move(name), {}, {}, {}};
  out->format = owner->format.c_str();
  out->name = owner->name.c_str();
  out->metadata = nullptr;
  out->flags = flags;
  out->n_children = 0;
  out->children = nullptr;
  out->dictionary = nullptr;
  out->release = release_arrow_schema;
  out->private_data = owner;
  return *owner;
}

/// A table and the validity bitmaps of its columns, shared by every array exported from them.
struct arrow_export {
  std::shared_ptr<const event_table> table;
  std::array<std::vector<std::uint8_t>, 18> validity;  ///< empty for a column without nulls
  std::array<std::int64_t, 18> null_count{};

  explicit arrow_export(std::shared_ptr<const event_table> t) : table(std::move(t)) {
    const auto columns = table->columns();
    const std::size_t n = table->size();
    for (std::size_t c = 0; c < columns.size(); ++c) {
      const column_ref& col = columns[c];
      auto is_null = [&](std::size_t row) {
        switch (col.kind) {
          case column_kind::dictionary: return col.strings->codes[row] < 0;
          case column_kind::float64: return std::isnan((*col.floats)[row]);
          default: return (*col.ints)[row] == missing_int;
        }
      };
      std::int64_t nulls = 0;
      for (std::size_t row = 0; row < n; ++row) nulls += is_null(row);
      null_count[c] = nulls;
      if (nulls == 0) continue;
      std::vector<std::uint8_t>& bits = validity[c];
      bits.assign((n + 7) / 8, 0);
      for (std::size_t row = 0; row < n; ++row)
        if (!is_null(row)) bits[row >> 3] |= static_cast<std::uint8_t>(1u << (row & 7));
    }
  }
};

/// What an exported array owns: a share of the export (the buffers) and its children.
struct arrow_array_owner {
  std::shared_ptr<const arrow_export> data;
  std::vector<const void*> buffers;
  std::vector<std::unique_ptr<ArrowArray>> children;
  std::vector<ArrowArray*> child_pointers;
  std::unique_ptr<ArrowArray> dictionary;
};

inline void release_arrow_array(ArrowArray* array) {
  if (array == nullptr || array->release == nullptr) return;
  for (std::int64_t i = 0; i < array->n_children; ++i)
    if (array->children[i]->release != nullptr) array->children[i]->release(array->children[i]);
  if (array->dictionary != nullptr && array->dictionary->release != nullptr)
    array->dictionary->release(array->dictionary);
  delete static_cast<arrow_array_owner*>(array->private_data);
  array->release = nullptr;
}

/// A buffer pointer for Arrow: never null, even for an empty vector (some consumers insist).
inline const void* arrow_buffer(const void* data) noexcept {
  alignas(64) static const std::int64_t empty[8] = {};
  return data != nullptr ? data : empty;
}

inline arrow_array_owner& init_arrow_array(ArrowArray* out, std::shared_ptr<const arrow_export> data,
                                           std::int64_t length, std::int64_t null_count,
                                           std::vector<const void*> buffers) {
  auto* owner = new arrow_array_owner{std::move(data), std::move(buffers), {}, {}, {}};
  out->length = length;
  out->null_count = null_count;
  out->offset = 0;
  out->n_buffers = static_cast<std::int64_t>(owner->buffers.size());
  out->n_children = 0;
  out->buffers = owner->buffers.data();
  out->children = nullptr;
  out->dictionary = nullptr;
  out->release = release_arrow_array;
  out->private_data = owner;
  return *owner;
}

inline void export_column_schema(const column_ref& column, ArrowSchema* out) {
  const std::int64_t flags = column.nullable ? ARROW_FLAG_NULLABLE : 0;
  switch (column.kind) {
    case column_kind::timestamp_ms: init_arrow_schema(out, "tsm:UTC", std::string(column.name), flags); return;
    case column_kind::int64: init_arrow_schema(out, "l", std::string(column.name), flags); return;
    case column_kind::float64: init_arrow_schema(out, "g", std::string(column.name), flags); return;
    case column_kind::dictionary: {
      arrow_schema_owner& owner = init_arrow_schema(out, "i", std::string(column.name), flags);
      owner.dictionary = std::make_unique<ArrowSchema>();
      init_arrow_schema(owner.dictionary.get(), "u", "", 0);
      out->dictionary = owner.dictionary.get();
      return;
    }
  }
}

inline void export_column_array(const std::shared_ptr<const arrow_export>& data, std::size_t index, ArrowArray* out) {
  const column_ref column = data->table->columns()[index];
  const auto length = static_cast<std::int64_t>(data->table->size());
  const void* validity = data->validity[index].empty() ? nullptr : data->validity[index].data();
  const std::int64_t nulls = data->null_count[index];
  switch (column.kind) {
    case column_kind::timestamp_ms:
    case column_kind::int64:
      init_arrow_array(out, data, length, nulls, {validity, arrow_buffer(column.ints->data())});
      return;
    case column_kind::float64:
      init_arrow_array(out, data, length, nulls, {validity, arrow_buffer(column.floats->data())});
      return;
    case column_kind::dictionary: {
      const dictionary_column& strings = *column.strings;
      arrow_array_owner& owner =
          init_arrow_array(out, data, length, nulls, {validity, arrow_buffer(strings.codes.data())});
      owner.dictionary = std::make_unique<ArrowArray>();
      init_arrow_array(owner.dictionary.get(), data, static_cast<std::int64_t>(strings.category_count()), 0,
                       {nullptr, arrow_buffer(strings.offsets().data()), arrow_buffer(strings.bytes().data())});
      out->dictionary = owner.dictionary.get();
      return;
    }
  }
}

/// What an exported stream owns: the export and whether its one batch was handed out.
struct arrow_stream_owner {
  std::shared_ptr<const arrow_export> data;
  bool done = false;
  std::string error;
};

}  // namespace detail

/// Fills `out` with the schema of an event table (see the top of this header); the consumer releases
/// it. @throws std::bad_alloc
inline void export_event_schema(ArrowSchema* out) {
  const event_table empty;
  const auto columns = empty.columns();
  detail::arrow_schema_owner& owner = detail::init_arrow_schema(out, "+s", "", 0);
  for (const auto& column : columns) {
    owner.children.push_back(std::make_unique<ArrowSchema>());
    detail::export_column_schema(column, owner.children.back().get());
    owner.child_pointers.push_back(owner.children.back().get());
  }
  out->n_children = static_cast<std::int64_t>(owner.child_pointers.size());
  out->children = owner.child_pointers.data();
}

namespace detail {
inline void export_event_array(const std::shared_ptr<const arrow_export>& data, ArrowArray* out) {
  arrow_array_owner& owner = init_arrow_array(out, data, static_cast<std::int64_t>(data->table->size()), 0, {nullptr});
  for (std::size_t c = 0; c < data->validity.size(); ++c) {
    owner.children.push_back(std::make_unique<ArrowArray>());
    export_column_array(data, c, owner.children.back().get());
    owner.child_pointers.push_back(owner.children.back().get());
  }
  out->n_children = static_cast<std::int64_t>(owner.child_pointers.size());
  out->children = owner.child_pointers.data();
}
}  // namespace detail

/// Fills `out` with the table as one struct array (a record batch of export_event_schema()), sharing
/// its buffers: they stay alive until the consumer has released every array exported from them.
/// The table must not change while they live. @throws std::bad_alloc
inline void export_event_array(std::shared_ptr<const event_table> table, ArrowArray* out) {
  detail::export_event_array(std::make_shared<const detail::arrow_export>(std::move(table)), out);
}

/// Fills `out` with a stream of the table: its schema, then the table as one record batch, then the
/// end. Buffers are shared as in export_event_array(). @throws std::bad_alloc
inline void export_event_stream(std::shared_ptr<const event_table> table, ArrowArrayStream* out) {
  auto* owner =
      new detail::arrow_stream_owner{std::make_shared<const detail::arrow_export>(std::move(table)), false, {}};
  out->private_data = owner;
  out->get_schema = [](ArrowArrayStream* stream, ArrowSchema* schema) -> int {
    auto* self = static_cast<detail::arrow_stream_owner*>(stream->private_data);
    try {
      export_event_schema(schema);
      return 0;
    } catch (const std::bad_alloc&) {
      self->error = "out of memory exporting the event table's schema";
      return ENOMEM;
    }
  };
  out->get_next = [](ArrowArrayStream* stream, ArrowArray* array) -> int {
    auto* self = static_cast<detail::arrow_stream_owner*>(stream->private_data);
    if (self->done) {
      array->release = nullptr;  // the end of the stream
      return 0;
    }
    try {
      detail::export_event_array(self->data, array);
      self->done = true;
      return 0;
    } catch (const std::bad_alloc&) {
      self->error = "out of memory exporting the event table";
      return ENOMEM;
    }
  };
  out->get_last_error = [](ArrowArrayStream* stream) -> const char* {
    auto* self = static_cast<detail::arrow_stream_owner*>(stream->private_data);
    return self->error.empty() ? nullptr : self->error.c_str();
  };
  out->release = [](ArrowArrayStream* stream) {
    if (stream == nullptr || stream->release == nullptr) return;
    delete static_cast<detail::arrow_stream_owner*>(stream->private_data);
    stream->release = nullptr;
  };
}

}  // namespace churn
