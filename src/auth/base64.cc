#include "auth/base64.h"

#include <array>

namespace reservoir::auth {
namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr std::int8_t kInvalid = -1;

constexpr std::array<std::int8_t, 256> make_decode_table() {
  std::array<std::int8_t, 256> table{};
  for (auto& v : table) v = kInvalid;
  for (int i = 0; i < 64; ++i) table[static_cast<unsigned char>(kAlphabet[i])] = std::int8_t(i);
  return table;
}
constexpr auto kDecode = make_decode_table();

Error invalid(std::string reason) { return make_error("08P01", "invalid base64: " + reason); }

}  // namespace

std::string base64_encode(ByteView data) {
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= data.size(); i += 3) {
    std::uint32_t v =
        (std::uint32_t(data[i]) << 16) | (std::uint32_t(data[i + 1]) << 8) | data[i + 2];
    for (int s = 18; s >= 0; s -= 6) out.push_back(kAlphabet[(v >> s) & 63]);
  }
  std::size_t left = data.size() - i;
  if (left == 0) return out;
  std::uint32_t v = std::uint32_t(data[i]) << 16;
  if (left == 2) v |= std::uint32_t(data[i + 1]) << 8;
  out.push_back(kAlphabet[(v >> 18) & 63]);
  out.push_back(kAlphabet[(v >> 12) & 63]);
  out.push_back(left == 2 ? kAlphabet[(v >> 6) & 63] : '=');
  out.push_back('=');
  return out;
}

Result<Bytes> base64_decode(std::string_view text) {
  if (text.size() % 4 != 0) return invalid("length is not a multiple of 4");
  std::size_t padding = 0;
  if (!text.empty() && text.back() == '=') padding = text[text.size() - 2] == '=' ? 2 : 1;
  Bytes out;
  out.reserve(text.size() / 4 * 3);
  for (std::size_t i = 0; i < text.size(); i += 4) {
    bool last = i + 4 == text.size();
    std::size_t data_chars = last ? 4 - padding : 4;
    std::uint32_t v = 0;
    for (std::size_t j = 0; j < 4; ++j) {
      std::int8_t d = j < data_chars ? kDecode[static_cast<unsigned char>(text[i + j])] : 0;
      if (d == kInvalid) return invalid("unexpected character");
      v = (v << 6) | std::uint32_t(d);
    }
    out.push_back(std::uint8_t(v >> 16));
    if (data_chars >= 3) out.push_back(std::uint8_t(v >> 8));
    if (data_chars == 4) out.push_back(std::uint8_t(v));
    // Canonical form only: the bits the padding drops must be zero.
    if ((data_chars == 2 && (v & 0xffff) != 0) || (data_chars == 3 && (v & 0xff) != 0)) {
      return invalid("non-zero padding bits");
    }
  }
  return out;
}

}  // namespace reservoir::auth
