// How a prompt is cut into prefill steps: the one rule the local engine, a ring's head and a replay share.
#include <catch2/catch.hpp>

#include "engine/prefill_chunks.h"

using namespace ll;

TEST_CASE("PromptIsCutIntoChunksFromPositionZeroTheLastHoldingTheRest", "[engine][prefill]") {
  CHECK(prefill_chunks(130, 64) == std::vector<PrefillChunk>{{0, 64}, {64, 128}, {128, 130}});
  CHECK(prefill_chunks(128, 64) == std::vector<PrefillChunk>{{0, 64}, {64, 128}});
  CHECK(prefill_chunks(129, 64) == std::vector<PrefillChunk>{{0, 64}, {64, 128}, {128, 129}});
}

TEST_CASE("PromptThatFitsOneChunkOrChunkingOffIsOneStep", "[engine][prefill]") {
  CHECK(prefill_chunks(64, 64) == std::vector<PrefillChunk>{{0, 64}});
  CHECK(prefill_chunks(1, 64) == std::vector<PrefillChunk>{{0, 1}});
  CHECK(prefill_chunks(512, 0) == std::vector<PrefillChunk>{{0, 512}});
  CHECK(prefill_chunks(0, 64).empty());
}

TEST_CASE("PrefillChunkOutsideItsRangeIsRefusedWithTheValue", "[engine][prefill]") {
  CHECK(validate_prefill_chunk(0).ok());
  CHECK(validate_prefill_chunk(kMinPrefillChunk).ok());
  CHECK(validate_prefill_chunk(kMaxPrefillChunk).ok());
  const Status small = validate_prefill_chunk(kMinPrefillChunk - 1);
  REQUIRE_FALSE(small.ok());
  CHECK(small.error().find(std::to_string(kMinPrefillChunk - 1)) != std::string::npos);
  CHECK_FALSE(validate_prefill_chunk(-1).ok());
  CHECK_FALSE(validate_prefill_chunk(kMaxPrefillChunk + 1).ok());
}
