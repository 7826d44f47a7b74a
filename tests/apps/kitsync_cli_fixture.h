// A fresh temporary directory per test, with helpers that drive the real `kitsync` binary in it.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "cli_runner.h"

namespace kitsync::testing {

// Kit types HYG-KIT and PPE-SET; posts ENT and NUN; officers ENT-OF-01, ENT-SV-01 (ENT) and
// NUN-OF-01 (NUN); round HYG-2026-11 (one HYG-KIT each, proof required) and round PPE-2026-11
// (up to two PPE-SET each, no proof required).
std::string StandardMasterJson();

class KitsyncCliTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  // Runs kitsync with --db pointing at this test's database, in this test's directory.
  RunResult Kitsync(const std::vector<std::string>& args, const std::string& stdin_data = "");
  // Runs kitsync exactly as given, with extra environment changes.
  RunResult KitsyncRaw(const std::vector<std::string>& args,
                       std::vector<std::pair<std::string, std::optional<std::string>>> env = {},
                       const std::string& stdin_data = "");
  // Runs a command that must succeed with --json, and returns its parsed output.
  nlohmann::json KitsyncJson(const std::vector<std::string>& args,
                             const std::string& stdin_data = "");

  std::string WriteFile(const std::string& name, const std::string& content);
  std::string Dump() const;

  // init at post ENT; then the standard master data; then stock of 10 HYG-KIT and 1 PPE-SET.
  void InitTablet();
  void ImportStandardMaster();
  void SetUpStockedPost();
  std::string Register(const std::string& doc_number, const std::string& name);
  // Records one HYG-KIT of round HYG-2026-11 with a signature and consent; returns its ID.
  std::string RecordHygieneKit(const std::string& beneficiary_id,
                               const std::vector<std::string>& extra = {});

  // Runs `args`, which must be refused: a non-zero exit (exactly `expected_exit` unless it is 0),
  // stderr holding every one of `message_parts`, and a database dump identical before and after.
  // Use as EXPECT_TRUE(RefusedUnchanged(...)).
  ::testing::AssertionResult RefusedUnchanged(const std::vector<std::string>& args,
                                              int expected_exit,
                                              const std::vector<std::string>& message_parts,
                                              const std::string& stdin_data = "");

  std::filesystem::path dir_;
  std::string db_;
  std::string key_file_;
};

}  // namespace kitsync::testing
