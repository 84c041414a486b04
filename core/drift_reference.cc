#include "core/drift_reference.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>
#include <utility>
#include <variant>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace modelwatch::core {
namespace {

// Nesting deeper than this is rejected: a reference file nests three levels.
constexpr int kMaxDepth = 32;

// A parsed JSON value. Objects keep their members in order and reject duplicate keys.
struct Json {
  struct Null {};
  using Array = std::vector<Json>;
  using Object = std::vector<std::pair<std::string, Json>>;
  std::variant<Null, bool, double, std::string, Array, Object> value;

  const Object* object() const { return std::get_if<Object>(&value); }
  const Array* array() const { return std::get_if<Array>(&value); }
  const std::string* string() const { return std::get_if<std::string>(&value); }
  const double* number() const { return std::get_if<double>(&value); }
};

// A strict recursive-descent JSON reader (RFC 8259): no comments, no trailing commas.
class JsonReader {
 public:
  explicit JsonReader(absl::string_view text) : text_(text) {}

  absl::StatusOr<Json> ReadDocument() {
    Json value;
    if (!ReadValue(value, 0)) return error_;
    SkipSpace();
    if (pos_ != text_.size()) return Error("unexpected text after the JSON value");
    return value;
  }

 private:
  bool ReadValue(Json& out, int depth) {
    if (depth > kMaxDepth) return Fail("nested too deeply");
    SkipSpace();
    if (pos_ >= text_.size()) return Fail("unexpected end of text");
    const char c = text_[pos_];
    if (c == '{') return ReadObject(out, depth);
    if (c == '[') return ReadArray(out, depth);
    if (c == '"') {
      std::string s;
      if (!ReadString(s)) return false;
      out.value = std::move(s);
      return true;
    }
    if (ConsumeWord("true")) return out.value = true, true;
    if (ConsumeWord("false")) return out.value = false, true;
    if (ConsumeWord("null")) return out.value = Json::Null{}, true;
    return ReadNumber(out);
  }

  bool ReadObject(Json& out, int depth) {
    ++pos_;
    Json::Object members;
    SkipSpace();
    if (Consume('}')) return out.value = std::move(members), true;
    while (true) {
      SkipSpace();
      std::string key;
      if (pos_ >= text_.size() || text_[pos_] != '"') return Fail("expected a member name");
      if (!ReadString(key)) return false;
      for (const auto& [existing, value] : members) {
        if (existing == key) return Fail(absl::StrCat("duplicate member \"", key, "\""));
      }
      SkipSpace();
      if (!Consume(':')) return Fail("expected ':'");
      Json value;
      if (!ReadValue(value, depth + 1)) return false;
      members.emplace_back(std::move(key), std::move(value));
      SkipSpace();
      if (Consume('}')) break;
      if (!Consume(',')) return Fail("expected ',' or '}'");
    }
    out.value = std::move(members);
    return true;
  }

  bool ReadArray(Json& out, int depth) {
    ++pos_;
    Json::Array elements;
    SkipSpace();
    if (Consume(']')) return out.value = std::move(elements), true;
    while (true) {
      Json value;
      if (!ReadValue(value, depth + 1)) return false;
      elements.push_back(std::move(value));
      SkipSpace();
      if (Consume(']')) break;
      if (!Consume(',')) return Fail("expected ',' or ']'");
    }
    out.value = std::move(elements);
    return true;
  }

  bool ReadString(std::string& out) {
    ++pos_;
    while (pos_ < text_.size()) {
      const char c = text_[pos_++];
      if (c == '"') return true;
      if (static_cast<unsigned char>(c) < 0x20) return Fail("control character in a string");
      if (c != '\\') {
        out.push_back(c);
        continue;
      }
      if (pos_ >= text_.size()) break;
      const char e = text_[pos_++];
      switch (e) {
        case '"':
        case '\\':
        case '/':
          out.push_back(e);
          break;
        case 'b':
          out.push_back('\b');
          break;
        case 'f':
          out.push_back('\f');
          break;
        case 'n':
          out.push_back('\n');
          break;
        case 'r':
          out.push_back('\r');
          break;
        case 't':
          out.push_back('\t');
          break;
        case 'u':
          if (!ReadUnicodeEscape(out)) return false;
          break;
        default:
          return Fail("bad escape in a string");
      }
    }
    return Fail("unterminated string");
  }

  // After "\u": four hex digits (a surrogate pair takes two escapes), appended as UTF-8.
  bool ReadUnicodeEscape(std::string& out) {
    uint32_t code = 0;
    if (!ReadHex4(code)) return false;
    if (code >= 0xD800 && code < 0xDC00) {
      uint32_t low = 0;
      if (!ConsumeWord("\\u") || !ReadHex4(low) || low < 0xDC00 || low >= 0xE000) {
        return Fail("unpaired surrogate in a string");
      }
      code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
    } else if (code >= 0xDC00 && code < 0xE000) {
      return Fail("unpaired surrogate in a string");
    }
    if (code < 0x80) {
      out.push_back(static_cast<char>(code));
    } else if (code < 0x800) {
      out.push_back(static_cast<char>(0xC0 | (code >> 6)));
      out.push_back(static_cast<char>(0x80 | (code & 0x3F)));
    } else if (code < 0x10000) {
      out.push_back(static_cast<char>(0xE0 | (code >> 12)));
      out.push_back(static_cast<char>(0x80 | ((code >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (code & 0x3F)));
    } else {
      out.push_back(static_cast<char>(0xF0 | (code >> 18)));
      out.push_back(static_cast<char>(0x80 | ((code >> 12) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | ((code >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (code & 0x3F)));
    }
    return true;
  }

  bool ReadHex4(uint32_t& out) {
    if (pos_ + 4 > text_.size()) return Fail("short \\u escape");
    for (int i = 0; i < 4; ++i) {
      const char h = text_[pos_++];
      int digit = -1;
      if (h >= '0' && h <= '9') digit = h - '0';
      if (h >= 'a' && h <= 'f') digit = h - 'a' + 10;
      if (h >= 'A' && h <= 'F') digit = h - 'A' + 10;
      if (digit < 0) return Fail("bad hex digit in a \\u escape");
      out = out * 16 + static_cast<uint32_t>(digit);
    }
    return true;
  }

  // -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
  bool ReadNumber(Json& out) {
    const size_t start = pos_;
    auto digits = [&] {
      const size_t from = pos_;
      while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') ++pos_;
      return pos_ > from;
    };
    Consume('-');
    if (Consume('0')) {
      // A leading zero stands alone.
    } else if (!digits()) {
      pos_ = start;
      return Fail("expected a value");
    }
    if (Consume('.') && !digits()) return Fail("expected digits after '.'");
    if (pos_ < text_.size() && (text_[pos_] == 'e' || text_[pos_] == 'E')) {
      ++pos_;
      if (!Consume('+')) Consume('-');
      if (!digits()) return Fail("expected digits in the exponent");
    }
    const std::string token(text_.substr(start, pos_ - start));
    out.value = std::strtod(token.c_str(), nullptr);
    return true;
  }

  void SkipSpace() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' ||
                                   text_[pos_] == '\n' || text_[pos_] == '\r')) {
      ++pos_;
    }
  }
  bool Consume(char c) {
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  bool ConsumeWord(absl::string_view word) {
    if (text_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }

  absl::Status Error(absl::string_view message) const {
    int line = 1;
    int column = 1;
    for (size_t i = 0; i < pos_ && i < text_.size(); ++i) {
      if (text_[i] == '\n') {
        ++line;
        column = 1;
      } else {
        ++column;
      }
    }
    return absl::InvalidArgumentError(
        absl::StrFormat("line %d column %d: %s", line, column, message));
  }
  bool Fail(absl::string_view message) {
    error_ = Error(message);
    return false;
  }

  absl::string_view text_;
  size_t pos_ = 0;
  absl::Status error_;
};

const Json* Member(const Json::Object& object, absl::string_view key) {
  for (const auto& [name, value] : object) {
    if (name == key) return &value;
  }
  return nullptr;
}

absl::Status SignalError(absl::string_view signal, absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat("signal \"", signal, "\": ", message));
}

// Reads an array of finite numbers.
absl::StatusOr<std::vector<double>> ReadNumbers(const Json& json, absl::string_view signal,
                                                absl::string_view field) {
  const Json::Array* array = json.array();
  if (array == nullptr) return SignalError(signal, absl::StrCat(field, " is not a list"));
  std::vector<double> out;
  for (size_t i = 0; i < array->size(); ++i) {
    const double* x = (*array)[i].number();
    if (x == nullptr || !std::isfinite(*x)) {
      return SignalError(signal, absl::StrCat(field, "[", i, "] is not a finite number"));
    }
    out.push_back(*x);
  }
  return out;
}

absl::StatusOr<SignalHistogram> ReadSignal(const std::string& name, const Json& json) {
  absl::StatusOr<bool> categorical = IsCategoricalSignal(name);
  if (!categorical.ok()) return categorical.status();
  const Json::Object* object = json.object();
  if (object == nullptr) return SignalError(name, "is not an object");
  for (const auto& [key, value] : *object) {
    if (key != "categories" && key != "edges" && key != "counts") {
      return SignalError(name, absl::StrCat("unknown field \"", key,
                                            "\"; a signal has categories or edges, and counts"));
    }
  }

  SignalHistogram h;
  const Json* counts = Member(*object, "counts");
  if (counts == nullptr) return SignalError(name, "has no counts");
  absl::StatusOr<std::vector<double>> values = ReadNumbers(*counts, name, "counts");
  if (!values.ok()) return values.status();
  h.counts = *std::move(values);
  if (h.counts.empty()) return SignalError(name, "counts is empty");
  for (size_t i = 0; i < h.counts.size(); ++i) {
    if (h.counts[i] < 0) return SignalError(name, absl::StrCat("counts[", i, "] is negative"));
  }

  if (*categorical) {
    if (Member(*object, "edges") != nullptr) {
      return SignalError(name, "is categorical and takes categories, not edges");
    }
    const Json* categories = Member(*object, "categories");
    const Json::Array* array = categories == nullptr ? nullptr : categories->array();
    if (array == nullptr) return SignalError(name, "needs a list of categories");
    std::set<std::string> seen;
    for (size_t i = 0; i < array->size(); ++i) {
      const std::string* category = (*array)[i].string();
      if (category == nullptr || category->empty()) {
        return SignalError(name, absl::StrCat("categories[", i, "] is not a non-empty string"));
      }
      if (!seen.insert(*category).second) {
        return SignalError(name, absl::StrCat("category \"", *category, "\" appears twice"));
      }
      h.categories.push_back(*category);
    }
    if (h.categories.size() != h.counts.size()) {
      return SignalError(name, absl::StrCat("has ", h.categories.size(), " categories but ",
                                            h.counts.size(), " counts"));
    }
    return h;
  }

  if (Member(*object, "categories") != nullptr) {
    return SignalError(name, "is continuous and takes edges, not categories");
  }
  if (const Json* edges = Member(*object, "edges")) {
    absl::StatusOr<std::vector<double>> read = ReadNumbers(*edges, name, "edges");
    if (!read.ok()) return read.status();
    h.edges = *std::move(read);
  }
  for (size_t i = 1; i < h.edges.size(); ++i) {
    if (h.edges[i] <= h.edges[i - 1]) {
      return SignalError(name, absl::StrCat("edges[", i, "] is not above edges[", i - 1,
                                            "]; edges must be strictly ascending"));
    }
  }
  if (h.edges.size() + 1 != h.counts.size()) {
    return SignalError(name, absl::StrCat("has ", h.edges.size(), " edges, so ", h.edges.size() + 1,
                                          " bins, but ", h.counts.size(), " counts"));
  }
  return h;
}

// The shortest of a few decimal forms that reads back as exactly `x`.
std::string ShortestDouble(double x) {
  for (int digits : {6, 15, 17}) {
    std::string s = absl::StrFormat("%.*g", digits, x);
    if (std::strtod(s.c_str(), nullptr) == x) return s;
  }
  return absl::StrFormat("%.17g", x);
}

std::string QuoteJson(absl::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (static_cast<unsigned char>(c) < 0x20) {
      absl::StrAppendFormat(&out, "\\u%04x", static_cast<int>(c));
    } else {
      out.push_back(c);
    }
  }
  out.push_back('"');
  return out;
}

std::string JoinNumbers(const std::vector<double>& values) {
  return absl::StrJoin(values, ", ",
                       [](std::string* out, double x) { out->append(ShortestDouble(x)); });
}

}  // namespace

double SignalHistogram::Total() const {
  double total = 0;
  for (double c : counts) total += c;
  return total;
}

absl::StatusOr<bool> IsCategoricalSignal(absl::string_view signal) {
  if (signal == "predicted_class" || signal == "label") return true;
  if (signal == "confidence") return false;
  for (absl::string_view prefix : {"score:", "feature:"}) {
    if (absl::StartsWith(signal, prefix) && signal.size() > prefix.size()) return false;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("\"", signal,
                   "\" is not a signal; use predicted_class, label, confidence, score:<class> or "
                   "feature:<name>"));
}

absl::StatusOr<DriftReference> ParseDriftReference(absl::string_view json) {
  absl::StatusOr<Json> document = JsonReader(json).ReadDocument();
  if (!document.ok()) return document.status();
  const Json::Object* root = document->object();
  if (root == nullptr) return absl::InvalidArgumentError("the reference is not a JSON object");

  const Json* format = Member(*root, "format");
  if (format == nullptr || format->string() == nullptr ||
      *format->string() != kDriftReferenceFormat) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"format\" must be \"", kDriftReferenceFormat, "\""));
  }
  const Json* signals = Member(*root, "signals");
  if (signals == nullptr || signals->object() == nullptr) {
    return absl::InvalidArgumentError("\"signals\" must be an object of signal histograms");
  }

  DriftReference reference;
  for (const auto& [name, value] : *signals->object()) {
    absl::StatusOr<SignalHistogram> h = ReadSignal(name, value);
    if (!h.ok()) return h.status();
    reference.signals.emplace(name, *std::move(h));
  }
  return reference;
}

std::string SerializeDriftReference(const DriftReference& reference) {
  std::string out =
      absl::StrCat("{\"format\": ", QuoteJson(kDriftReferenceFormat), ",\n \"signals\": {");
  bool first = true;
  for (const auto& [name, h] : reference.signals) {
    absl::StrAppend(&out, first ? "\n  " : ",\n  ", QuoteJson(name), ": {");
    first = false;
    if (h.categorical()) {
      absl::StrAppend(
          &out, "\"categories\": [",
          absl::StrJoin(h.categories, ", ",
                        [](std::string* o, const std::string& c) { o->append(QuoteJson(c)); }),
          "], ");
    } else {
      absl::StrAppend(&out, "\"edges\": [", JoinNumbers(h.edges), "], ");
    }
    absl::StrAppend(&out, "\"counts\": [", JoinNumbers(h.counts), "]}");
  }
  absl::StrAppend(&out, "}}\n");
  return out;
}

absl::StatusOr<DriftReference> LoadDriftReferenceFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::ErrnoToStatus(errno, absl::StrCat("cannot read drift reference \"", path, "\""));
  }
  std::ostringstream text;
  text << in.rdbuf();
  absl::StatusOr<DriftReference> reference = ParseDriftReference(text.str());
  if (!reference.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("drift reference \"", path, "\": ", reference.status().message()));
  }
  return reference;
}

absl::Status SaveDriftReferenceFile(const DriftReference& reference, const std::string& path) {
  std::error_code error;
  const std::filesystem::path target(path);
  if (target.has_parent_path()) std::filesystem::create_directories(target.parent_path(), error);
  if (error) {
    return absl::UnavailableError(
        absl::StrCat("cannot create the directory of \"", path, "\": ", error.message()));
  }
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << SerializeDriftReference(reference);
    out.flush();
    if (!out.good()) {
      return absl::ErrnoToStatus(errno, absl::StrCat("cannot write \"", tmp, "\""));
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    return absl::ErrnoToStatus(errno,
                               absl::StrCat("cannot rename \"", tmp, "\" to \"", path, "\""));
  }
  return absl::OkStatus();
}

std::vector<double> SignalBinCenters(absl::string_view signal, const SignalHistogram& h) {
  const size_t k = h.counts.size();
  std::vector<double> centers(k);
  if (signal == "confidence" || absl::StartsWith(signal, "score:")) {
    for (size_t b = 0; b < k; ++b) centers[b] = (static_cast<double>(b) + 0.5) / k;
    return centers;
  }
  const std::vector<double>& e = h.edges;
  if (e.empty()) return std::vector<double>(k, 0.0);
  if (e.size() == 1) {
    centers[0] = e[0] - 0.5;
    centers[1] = e[0] + 0.5;
    return centers;
  }
  const size_t m = e.size();
  centers[0] = e[0] - (e[1] - e[0]) / 2;
  for (size_t b = 1; b < m; ++b) centers[b] = (e[b - 1] + e[b]) / 2;
  centers[m] = e[m - 1] + (e[m - 1] - e[m - 2]) / 2;
  return centers;
}

std::string SignalBinLabel(const SignalHistogram& h, size_t bin) {
  if (h.categorical()) return bin < h.categories.size() ? h.categories[bin] : absl::StrCat(bin);
  if (bin < h.edges.size()) return ShortestDouble(h.edges[bin]);
  return "+Inf";
}

}  // namespace modelwatch::core
