// `kitsync batch`: each line runs as the same command typed would, each result line comes in
// input order, and a refused line runs nothing.
#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "kitsync_cli_fixture.h"

namespace kitsync::testing {
namespace {

using nlohmann::json;

std::vector<json> ResultLines(const std::string& out) {
  std::vector<json> lines;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) lines.push_back(json::parse(line));
  return lines;
}

std::string Line(const std::vector<std::string>& args) { return json(args).dump() + "\n"; }

const std::vector<std::string> kHygieneKit = {"--round", "HYG-2026-11", "--kit", "HYG-KIT",
                                              "--officer", "ENT-OF-01", "--proof",
                                              "signature:sig-1", "--consent"};

std::vector<std::string> RecordFor(const std::string& doc, std::vector<std::string> extra = {}) {
  std::vector<std::string> args = {"record", "--doc-number", doc};
  args.insert(args.end(), kHygieneKit.begin(), kHygieneKit.end());
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

TEST_F(KitsyncCliTest, BatchRunsEachLineAsTheSameCommandWouldAndAnswersInOrder) {
  ASSERT_NO_FATAL_FAILURE(SetUpStockedPost());  // 10 HYG-KIT
  const std::string input =
      Line({"register", "--doc-number", "A1234567", "--name", "Siti Aminah"}) + "\n" +
      "# a comment line, skipped\n" + Line(RecordFor("A1234567")) +
      Line(RecordFor("A1234567")) +  // a second kit: needs an officer's override
      Line(RecordFor("A1234567", {"--override-reason", "first kit stolen at the terminal"})) +
      Line({"stock", "show"});
  const RunResult run = Kitsync({"batch"}, input);
  EXPECT_EQ(run.exit_code, 3) << run.Describe();  // the first failing line's code
  const std::vector<json> results = ResultLines(run.out);
  ASSERT_EQ(results.size(), 5u) << run.Describe();

  EXPECT_EQ(results[0]["line"], 1);
  EXPECT_EQ(results[0]["exit_code"], 0);
  EXPECT_EQ(results[1]["line"], 4);
  EXPECT_EQ(results[1]["exit_code"], 0);
  EXPECT_EQ(results[2]["exit_code"], 3);
  EXPECT_NE(results[2]["error"].get<std::string>().find("entitled to 1"), std::string::npos)
      << results[2].dump();
  EXPECT_EQ(results[3]["exit_code"], 0);
  EXPECT_EQ(results[4]["exit_code"], 0);
  const json& stock = results[4]["result"]["stock"];
  ASSERT_TRUE(stock.is_array());
  for (const json& line : stock) {
    if (line["kit_type_code"] == "HYG-KIT") {
      EXPECT_EQ(line["handed_out"], 2);
      EXPECT_EQ(line["balance"], 8);
    }
  }
  // What the batch reported recorded is in the ledger, and nothing else.
  const json handovers = KitsyncJson({"handovers"});
  ASSERT_EQ(handovers["handovers"].size(), 2u) << handovers.dump(2);
  std::vector<std::string> reported = {results[1]["result"]["handover"]["id"],
                                       results[3]["result"]["handover"]["id"]};
  for (const json& h : handovers["handovers"]) {
    EXPECT_NE(std::find(reported.begin(), reported.end(), h["id"].get<std::string>()),
              reported.end())
        << h.dump();
  }
}

TEST_F(KitsyncCliTest, BatchRefusesLinesItCannotRunAndWritesNothingForThem) {
  ASSERT_NO_FATAL_FAILURE(SetUpStockedPost());
  const std::string before = Dump();
  const std::string input = std::string("not json at all\n") + "{\"record\": 1}\n" + "[]\n" +
                            "[\"stock\", 7]\n" + Line({"batch"}) +
                            Line({"--db", "other.db", "stock", "show"}) +
                            Line({"register", "--doc-number-stdin", "--name", "Rudi"}) +
                            Line(RecordFor("A1234567"));  // nobody registered with it
  const RunResult run = Kitsync({"batch"}, input);
  EXPECT_EQ(run.exit_code, 2) << run.Describe();
  const std::vector<json> results = ResultLines(run.out);
  ASSERT_EQ(results.size(), 8u) << run.Describe();
  for (size_t i = 0; i < 7; ++i) {
    EXPECT_EQ(results[i]["exit_code"], 2) << results[i].dump();
    EXPECT_EQ(results[i]["line"], static_cast<int>(i + 1));
    EXPECT_FALSE(results[i]["error"].get<std::string>().empty()) << results[i].dump();
  }
  EXPECT_EQ(results[7]["exit_code"], 4) << results[7].dump();  // unknown document: not found
  EXPECT_EQ(Dump(), before);
}

TEST_F(KitsyncCliTest, BatchStopOnErrorRunsNothingAfterTheFirstFailure) {
  ASSERT_NO_FATAL_FAILURE(SetUpStockedPost());
  const std::string input = Line({"register", "--doc-number", "A1234567", "--name", "Siti"}) +
                            Line({"stock", "receive", "--kit", "NOPE", "--quantity", "1",
                                  "--officer", "ENT-OF-01"}) +
                            Line({"register", "--doc-number", "B7654321", "--name", "Rudi"});
  const RunResult run = Kitsync({"batch", "--stop-on-error"}, input);
  EXPECT_EQ(run.exit_code, 2) << run.Describe();
  EXPECT_EQ(ResultLines(run.out).size(), 2u) << run.Describe();
  // The third line never ran: only one beneficiary is known.
  EXPECT_EQ(Kitsync({"record", "--doc-number", "B7654321", "--round", "HYG-2026-11", "--kit", "HYG-KIT",
                     "--officer", "ENT-OF-01", "--proof", "signature:s", "--consent"})
                .exit_code,
            4);
  EXPECT_EQ(Kitsync({"record", "--doc-number", "A1234567", "--round", "HYG-2026-11", "--kit", "HYG-KIT",
                     "--officer", "ENT-OF-01", "--proof", "signature:s", "--consent"})
                .exit_code,
            0);
}

}  // namespace
}  // namespace kitsync::testing
