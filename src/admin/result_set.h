#pragma once
// A console answer: columns and text rows, and its encoding as RowDescription, DataRow and
// CommandComplete (text format), as PostgreSQL answers a simple Query. Pure.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/bytes.h"

namespace reservoir::admin {

enum class ColumnType { Text, Int8, Float8 };

struct Column {
  std::string name;
  ColumnType type = ColumnType::Text;
};

struct ResultSet {
  std::vector<Column> columns;
  std::vector<std::vector<std::optional<std::string>>> rows;  // nullopt: NULL

  // Index of a column by name (for tests); -1 if absent.
  int column(std::string_view name) const;
};

// Appends RowDescription + DataRows + CommandComplete("<tag>" or "SHOW" with the row count).
void encode_result(const ResultSet& rs, const std::string& tag, Bytes& out);
// Appends just CommandComplete(tag), for commands that return no rows.
void encode_command_complete(const std::string& tag, Bytes& out);

}  // namespace reservoir::admin
