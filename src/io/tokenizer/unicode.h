#pragma once
// UTF-8 helpers for the tokenizer: code point iteration, GPT-2's byte ↔ printable-character map, NFC.
#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace patchlm::tok {

// Length in bytes of the UTF-8 sequence starting with `lead`; 1 for invalid lead bytes (treated as one unit).
inline std::size_t utf8_length(unsigned char lead) {
  if (lead < 0x80) return 1;
  if ((lead >> 5) == 0x6) return 2;
  if ((lead >> 4) == 0xE) return 3;
  if ((lead >> 3) == 0x1E) return 4;
  return 1;
}

// The byte length of the character at `pos`, clipped to the string.
inline std::size_t char_length_at(std::string_view s, std::size_t pos) {
  std::size_t n = utf8_length(static_cast<unsigned char>(s[pos]));
  return pos + n <= s.size() ? n : s.size() - pos;
}

void append_utf8(std::string& out, char32_t cp);
char32_t decode_utf8(std::string_view s, std::size_t pos, std::size_t* length);

// GPT-2 byte-level alphabet: every byte maps to a printable code point (bytes_to_unicode).
const std::array<std::string, 256>& byte_to_unicode();
// Inverse: returns -1 for code points outside the alphabet.
int unicode_to_byte(char32_t cp);

// Canonical composition (NFC) with utf8proc. Invalid UTF-8 is returned unchanged.
std::string nfc(std::string_view s);

bool is_valid_utf8(std::string_view bytes);

// Invalid UTF-8 sequences replaced by U+FFFD per maximal invalid subsequence, as Rust's from_utf8_lossy does.
std::string utf8_lossy(std::string_view bytes);

}  // namespace patchlm::tok
