// src/proto/limits.h against the limits table of docs/protocol.md: every constant of the header is a row of the
// table with the same value, and every row is a constant. Reads both files from LL_SOURCE_DIR.
#include <catch2/catch.hpp>
#include <cstdlib>
#include <fstream>
#include <map>
#include <optional>
#include <regex>
#include <sstream>

#include "proto/limits.h"

namespace {

std::string read_source(const std::string& relative) {
  const char* dir = std::getenv("LL_SOURCE_DIR");
  const std::string path = std::string(dir != nullptr ? dir : ".") + "/" + relative;
  std::ifstream in(path);
  INFO(path);
  REQUIRE(in.good());
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// "64 KiB", "2^31", "10000" -> the number; nullopt for anything else.
std::optional<uint64_t> doc_value(std::string text) {
  std::smatch m;
  if (std::regex_match(text, m, std::regex(R"(\s*2\^(\d+)\s*)"))) return uint64_t{1} << std::stoi(m[1]);
  if (!std::regex_match(text, m, std::regex(R"(\s*(\d+)\s*(KiB|MiB|GiB)?\s*)"))) return std::nullopt;
  uint64_t v = std::stoull(m[1]);
  const std::string unit = m[2];
  if (unit == "KiB") v <<= 10;
  if (unit == "MiB") v <<= 20;
  if (unit == "GiB") v <<= 30;
  return v;
}

// Every constant of limits.h by name. A constant added to the header and not here fails the first test.
const std::map<std::string, uint64_t> kValues = {
    {"kProtocolVersion", ll::proto::kProtocolVersion},
    {"kMaxControlFrameBytes", ll::proto::kMaxControlFrameBytes},
    {"kMaxJsonDepth", ll::proto::kMaxJsonDepth},
    {"kMaxTensorFrames", ll::proto::kMaxTensorFrames},
    {"kMaxTensorRank", ll::proto::kMaxTensorRank},
    {"kMaxTensorDim", ll::proto::kMaxTensorDim},
    {"kMaxTensorElements", ll::proto::kMaxTensorElements},
    {"kMaxTensorFrameBytes", ll::proto::kMaxTensorFrameBytes},
    {"kTensorHeaderBytes", ll::proto::kTensorHeaderBytes},
    {"kMaxSocketFrameBytes", ll::proto::kMaxSocketFrameBytes},
    {"kMaxDataSocketFrameBytes", ll::proto::kMaxDataSocketFrameBytes},
    {"kMaxProbeBytes", ll::proto::kMaxProbeBytes},
    {"kMaxNameBytes", ll::proto::kMaxNameBytes},
    {"kMaxEndpointBytes", ll::proto::kMaxEndpointBytes},
    {"kMaxMembers", ll::proto::kMaxMembers},
    {"kReceiveHighWaterMark", ll::proto::kReceiveHighWaterMark},
    {"kDataHighWaterMark", ll::proto::kDataHighWaterMark},
    {"kMaxPlanSessions", ll::proto::kMaxPlanSessions},
    {"kDefaultPlanSessions", ll::proto::kDefaultPlanSessions},
    {"kMaxTerm", ll::proto::kMaxTerm},
    {"kMaxTypeNameBytes", ll::proto::kMaxTypeNameBytes},
    {"kMaxErrorMessageBytes", ll::proto::kMaxErrorMessageBytes},
    {"kMaxRoleBytes", ll::proto::kMaxRoleBytes},
    {"kMaxVersionBytes", ll::proto::kMaxVersionBytes},
    {"kMaxEngineNameBytes", ll::proto::kMaxEngineNameBytes},
    {"kMaxProfileFields", ll::proto::kMaxProfileFields},
    {"kMaxProfileThreads", ll::proto::kMaxProfileThreads},
    {"kRefusalsPerSecond", ll::proto::kRefusalsPerSecond},
    {"kMaxDiscoveryHints", ll::proto::kMaxDiscoveryHints},
    {"kDiscoveryHintsPerSecond", ll::proto::kDiscoveryHintsPerSecond},
    {"kMaxDataControlFrameBytes", ll::proto::kMaxDataControlFrameBytes},
    {"kMaxPromptBytes", ll::proto::kMaxPromptBytes},
    {"kMaxGenerateTokens", ll::proto::kMaxGenerateTokens},
    {"kMaxResumeTokens", ll::proto::kMaxResumeTokens},
    {"kMaxTokenList", ll::proto::kMaxTokenList},
    {"kMaxStageStats", ll::proto::kMaxStageStats},
    {"kMaxDraftTokens", static_cast<uint64_t>(ll::proto::kMaxDraftTokens)},
    {"kMaxSpeculateBytes", ll::proto::kMaxSpeculateBytes},
    {"kMaxChunkBytes", ll::proto::kMaxChunkBytes},
    {"kMaxPlanStages", ll::proto::kMaxPlanStages},
    {"kMaxShardIndex", ll::proto::kMaxShardIndex},
};

std::vector<std::string> header_constants() {
  const std::string header = read_source("src/proto/limits.h");
  std::vector<std::string> names;
  const std::regex constant(R"(inline\s+constexpr\s+[\w:]+\s+(k\w+)\s*=)");
  for (auto it = std::sregex_iterator(header.begin(), header.end(), constant); it != std::sregex_iterator(); ++it) {
    names.push_back((*it)[1]);
  }
  return names;
}

// The rows of the "## Limits" table: name -> value column.
std::map<std::string, std::string> doc_rows() {
  const std::string doc = read_source("docs/protocol.md");
  const size_t start = doc.find("## Limits");
  REQUIRE(start != std::string::npos);
  const size_t end = doc.find("\n## ", start + 1);
  std::stringstream section(doc.substr(start, end == std::string::npos ? std::string::npos : end - start));
  std::map<std::string, std::string> rows;
  const std::regex row(R"(^\|\s*`(k\w+)`\s*\|([^|]*)\|.*)");
  std::smatch m;
  for (std::string line; std::getline(section, line);) {
    if (std::regex_match(line, m, row)) rows[m[1]] = m[2];
  }
  return rows;
}

}  // namespace

TEST_CASE("LimitMissingFromThisTestIsNoticed", "[limits]") {
  const auto names = header_constants();
  CHECK(names.size() >= 20);  // the parse found the header's constants
  for (const auto& name : names) {
    INFO(name << " is in limits.h but not in kValues");
    CHECK(kValues.count(name) == 1);
  }
  CHECK(names.size() == kValues.size());
}

TEST_CASE("LimitMissingFromTheProtocolDocIsNoticed", "[limits]") {
  const auto rows = doc_rows();
  for (const auto& name : header_constants()) {
    INFO(name << " is in src/proto/limits.h but not in the limits table of docs/protocol.md");
    CHECK(rows.count(name) == 1);
  }
  for (const auto& [name, value] : rows) {
    INFO(name << " is in docs/protocol.md but not in src/proto/limits.h");
    CHECK(kValues.count(name) == 1);
  }
}

TEST_CASE("LimitWhoseDocumentedValueDriftedIsNoticed", "[limits]") {
  for (const auto& [name, text] : doc_rows()) {
    INFO(name << ": docs/protocol.md says '" << text << "'");
    auto documented = doc_value(text);
    REQUIRE(documented.has_value());
    auto actual = kValues.find(name);
    if (actual != kValues.end()) CHECK(*documented == actual->second);
  }
}
