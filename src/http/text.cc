#include "http/text.h"

#include <algorithm>

namespace ll::http {

std::string chat_prompt(const std::vector<ChatMessage>& messages) {
  std::string out;
  for (const auto& m : messages) {
    if (m.role == "system") {
      out += m.content + "\n\n";
    } else if (m.role == "user") {
      out += "User: " + m.content + "\n";
    } else {
      out += "Assistant: " + m.content + "\n";
    }
  }
  out += "Assistant:";
  return out;
}

StopScanner::StopScanner(std::vector<std::string> stops) : stops_(std::move(stops)) {
  for (const auto& s : stops_) hold_ = std::max(hold_, s.empty() ? 0 : s.size() - 1);
}

std::string StopScanner::push(std::string_view piece) {
  if (stopped_) return "";
  pending_.append(piece.data(), piece.size());
  // The earliest stop sequence in what is not sent yet (sent text never contains one: it was checked here).
  size_t first = std::string::npos;
  for (const auto& s : stops_) {
    if (!s.empty()) first = std::min(first, pending_.find(s));
  }
  std::string out;
  if (first != std::string::npos) {
    out = pending_.substr(0, first);
    pending_.clear();
    stopped_ = true;
  } else {
    size_t keep = std::min(hold_, pending_.size());
    size_t cut = pending_.size() - keep;
    // Never split a UTF-8 character: move the cut back over continuation bytes (10xxxxxx).
    while (cut > 0 && cut < pending_.size() && (static_cast<unsigned char>(pending_[cut]) & 0xC0) == 0x80) --cut;
    out = pending_.substr(0, cut);
    pending_.erase(0, cut);
  }
  sent_ += out;
  return out;
}

std::string StopScanner::finish() {
  if (stopped_) return "";
  std::string out;
  out.swap(pending_);
  sent_ += out;
  return out;
}

}  // namespace ll::http
