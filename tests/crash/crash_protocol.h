// The line protocol between crash_writer and the crash-safety test, shared so both sides agree.
//
// The writer announces each write before it starts and reports it only after the store call that
// commits it has returned:
//
//   "begin <tag>"      a write of this kind is about to start
//   "begin I <n>"      a bulk import of n handovers is about to start (all or nothing)
//   "<tag> <value>"    that write committed
//
// The value is the record's ID (for a void: the voided handover's), for a bulk import the number
// of handovers it held (ImportHandovers returns no IDs), and for an upload acknowledgement the
// sequence number acknowledged. A kill that leaves a "begin" without its report landed while a
// write was in flight.
#pragma once

#include <string_view>

namespace kitsync::crash {

inline constexpr std::string_view kBeginTag = "begin";
inline constexpr std::string_view kBeneficiaryTag = "B";
inline constexpr std::string_view kHandoverTag = "H";
inline constexpr std::string_view kVoidTag = "V";
inline constexpr std::string_view kMovementTag = "M";
inline constexpr std::string_view kImportTag = "I";
inline constexpr std::string_view kAcknowledgeTag = "A";

// The tablet's setup, shared so that a database created by either side is the same kind.
inline constexpr std::string_view kDeviceName = "crash-test-tablet";
inline constexpr std::string_view kProgrammeKey = "crash-test-programme-key";

// Codes of the master data the test creates and the writer uses.
inline constexpr std::string_view kPostCode = "ENT";
inline constexpr std::string_view kOtherPostCode = "NNK";
inline constexpr std::string_view kOfficerCode = "ENT-OF-01";
inline constexpr std::string_view kRoundCode = "HYG-2026-11";
inline constexpr std::string_view kHygieneKitCode = "HYG-KIT";
inline constexpr std::string_view kProtectiveSetCode = "PPE-SET";

// Documents the test registers before any writer runs; the writer finds them by number.
inline constexpr int kSeededBeneficiaries = 40;
inline constexpr std::string_view kSeededDocPrefix = "SEED";

// A writer that is never killed stops after this many writes, so it cannot run forever.
inline constexpr int kWriterMaxWrites = 5000;

// What `crash_writer --create` prints once Store::Create has returned.
inline constexpr std::string_view kCreatedLine = "created";

// Exit codes of the writer other than death by signal.
inline constexpr int kWriterDone = 0;
inline constexpr int kWriterUsage = 64;
inline constexpr int kWriterStoreError = 70;

}  // namespace kitsync::crash
