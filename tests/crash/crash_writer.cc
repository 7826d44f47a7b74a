// crash_writer: records a stream of ledger writes into an existing tablet database until it is
// killed, reporting each write on stdout only after the store call that committed it returned.
// The crash-safety test kills it with SIGKILL at random moments and checks what survived.
//
// Usage: crash_writer DB_PATH SEED GENERATION CLOCK_BEHIND_MS
//   SEED             drives the mix of writes, so a failing run can be replayed
//   GENERATION       makes this run's document numbers and references unique in the database
//   CLOCK_BEHIND_MS  how far this run's wall clock lags the real one, like a tablet whose clock
//                    was reset when it crashed; the ledger must still order new writes last
//
//        crash_writer --create DB_PATH
//   sets up a new tablet database, as `kitsync init` does, and prints "created" when done.
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "crash_protocol.h"
#include "kitsync/core/domain.h"
#include "kitsync/core/status.h"
#include "kitsync/core/store.h"

namespace kitsync::crash {
namespace {

using core::BeneficiaryInput;
using core::Code;
using core::HandoverInput;
using core::MovementInput;
using core::MovementKind;
using core::ProofKind;
using core::Status;
using core::Store;
using core::VoidInput;

// Unbuffered on purpose: a line still sitting in a stdio buffer when SIGKILL lands would be lost,
// and the test would wrongly count its write as unreported.
void Emit(std::string line) {
  line.push_back('\n');
  std::string_view rest = line;
  while (!rest.empty()) {
    ssize_t n = ::write(STDOUT_FILENO, rest.data(), rest.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      // The reader is gone; nobody is left to tell about further writes.
      std::_Exit(kWriterDone);
    }
    rest.remove_prefix(static_cast<size_t>(n));
  }
}

[[noreturn]] void Fail(std::string_view what, const Status& status) {
  std::fprintf(stderr, "crash_writer: %.*s: %s\n", static_cast<int>(what.size()), what.data(),
               status.ToString().c_str());
  std::exit(kWriterStoreError);
}

constexpr const char* kOverrideReason = "crash test: the kit has already left the post";

template <typename Int>
bool ParseInt(const char* text, Int* value) {
  std::string_view s(text);
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *value);
  return ec == std::errc() && end == s.data() + s.size();
}

class Writer {
 public:
  Writer(Store* store, uint64_t seed, int64_t generation)
      : store_(store), rng_(seed), generation_(generation) {}

  void LoadSeededBeneficiaries() {
    for (int i = 0; i < kSeededBeneficiaries; ++i) {
      std::string doc = std::string(kSeededDocPrefix) + "-" + std::to_string(i);
      auto found = store_->FindBeneficiaryByDocument(doc);
      if (!found.ok()) Fail("find seeded beneficiary " + doc, found.status());
      beneficiaries_.push_back(found->id);
    }
  }

  void WriteOne() {
    int64_t pick = Uniform(0, 99);
    if (pick < 8) {
      RegisterBeneficiary();
    } else if (pick < 16 && !voidable_.empty()) {
      VoidHandover();
    } else if (pick < 28) {
      RecordMovement();
    } else if (pick < 32) {
      ImportHandovers();
    } else if (pick < 35) {
      AcknowledgeUpload();
    } else {
      RecordHandover();
    }
  }

 private:
  int64_t Uniform(int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng_);
  }

  size_t IndexBelow(size_t size) {
    return std::uniform_int_distribution<size_t>(0, size - 1)(rng_);
  }

  // Letters separate the numbers because document numbers are compared with dashes and spaces
  // stripped: "DOC-5-13" and "DOC-51-3" are the same document.
  std::string Unique(std::string_view prefix) {
    return std::string(prefix) + "G" + std::to_string(generation_) + "N" +
           std::to_string(counter_++);
  }

  void RegisterBeneficiary() {
    BeneficiaryInput input;
    input.doc_number = Unique("DOC");
    input.full_name = "Returnee " + input.doc_number;
    if (Uniform(0, 1) == 0) input.phone = "+62812" + std::to_string(Uniform(1000000, 9999999));
    input.household_size = Uniform(1, 8);

    Emit(std::string(kBeginTag) + " " + std::string(kBeneficiaryTag));
    auto registered = store_->RegisterBeneficiary(input);
    if (!registered.ok()) Fail("register beneficiary", registered.status());
    Emit(std::string(kBeneficiaryTag) + " " + registered->id);
    beneficiaries_.push_back(registered->id);
  }

  HandoverInput RandomHandover() {
    HandoverInput input;
    input.round_code = std::string(kRoundCode);
    input.beneficiary_id = beneficiaries_[IndexBelow(beneficiaries_.size())];
    input.kit_type_code = std::string(Uniform(0, 3) == 0 ? kProtectiveSetCode : kHygieneKitCode);
    input.quantity = Uniform(1, 3);
    input.officer_code = std::string(kOfficerCode);
    input.proof.kind = Uniform(0, 1) == 0 ? ProofKind::kSignature : ProofKind::kVoucher;
    input.proof.ref = Unique("PROOF");
    if (Uniform(0, 4) == 0) {
      input.collected_by = core::Collector::kProxy;
      input.proxy_relation = "spouse";
    }
    input.consent = true;
    return input;
  }

  void RecordHandover() {
    HandoverInput input = RandomHandover();
    Emit(std::string(kBeginTag) + " " + std::string(kHandoverTag));
    auto receipt = store_->RecordHandover(input);
    if (!receipt.ok() && receipt.status().code() == Code::kFailedPrecondition) {
      // The round is generous and stock is replenished, but whatever warning the ledger still
      // raises is not what this test is about: the officer overrides it, as a real one may.
      input.override_reason = kOverrideReason;
      receipt = store_->RecordHandover(input);
    }
    if (!receipt.ok()) Fail("record handover", receipt.status());
    Emit(std::string(kHandoverTag) + " " + receipt->handover.id);
    voidable_.push_back(receipt->handover.id);
  }

  // Handovers typed in on paper during an outage and entered together: one transaction, so a
  // kill must leave all of them or none.
  void ImportHandovers() {
    std::vector<HandoverInput> inputs(static_cast<size_t>(Uniform(2, 5)));
    for (HandoverInput& input : inputs) input = RandomHandover();
    const std::string size = std::to_string(inputs.size());
    Emit(std::string(kBeginTag) + " " + std::string(kImportTag) + " " + size);
    auto imported = store_->ImportHandovers(inputs);
    if (!imported.ok() && imported.status().code() == Code::kFailedPrecondition) {
      for (HandoverInput& input : inputs) input.override_reason = kOverrideReason;
      imported = store_->ImportHandovers(inputs);
    }
    if (!imported.ok()) Fail("import handovers", imported.status());
    if (*imported != static_cast<int64_t>(inputs.size())) {
      Fail("import handovers",
           Status::Internal("imported " + std::to_string(*imported) + " of " + size));
    }
    Emit(std::string(kImportTag) + " " + size);
  }

  // What the sync client does after the server confirmed a batch.
  void AcknowledgeUpload() {
    auto status = store_->GetStatus();
    if (!status.ok()) Fail("status", status.status());
    if (status->last_seq == 0) return;
    const int64_t seq = Uniform(std::max<int64_t>(0, status->last_seq - 20), status->last_seq);
    Emit(std::string(kBeginTag) + " " + std::string(kAcknowledgeTag));
    Status acked = store_->AcknowledgeUpload(seq);
    if (!acked.ok()) Fail("acknowledge upload", acked);
    Emit(std::string(kAcknowledgeTag) + " " + std::to_string(seq));
  }

  void VoidHandover() {
    size_t index = IndexBelow(voidable_.size());
    std::swap(voidable_[index], voidable_.back());
    VoidInput input;
    input.handover_id = voidable_.back();
    voidable_.pop_back();
    input.reason = "recorded against the wrong beneficiary";
    input.officer_code = std::string(kOfficerCode);

    Emit(std::string(kBeginTag) + " " + std::string(kVoidTag));
    auto voided = store_->VoidHandover(input);
    if (!voided.ok()) Fail("void handover " + input.handover_id, voided.status());
    Emit(std::string(kVoidTag) + " " + voided->handover_id);
  }

  void RecordMovement() {
    MovementInput input;
    input.kit_type_code = std::string(Uniform(0, 2) == 0 ? kProtectiveSetCode : kHygieneKitCode);
    input.officer_code = std::string(kOfficerCode);
    int64_t pick = Uniform(0, 99);
    if (pick < 40) {
      input.kind = MovementKind::kReceipt;
      input.quantity = Uniform(20, 200);
      input.reference = Unique("WB");
    } else if (pick < 55) {
      input.kind = MovementKind::kTransferIn;
      input.quantity = Uniform(5, 50);
      input.counterpart_post_code = std::string(kOtherPostCode);
      input.reference = Unique("TR");
    } else if (pick < 70) {
      input.kind = MovementKind::kTransferOut;
      input.quantity = Uniform(1, 10);
      input.counterpart_post_code = std::string(kOtherPostCode);
      input.reference = Unique("TR");
    } else if (pick < 85) {
      input.kind = MovementKind::kAdjustment;
      int64_t delta = Uniform(1, 5);
      input.quantity = Uniform(0, 2) == 0 ? delta : -delta;
      input.reason = input.quantity > 0 ? "found in the store room" : "damaged by rain in transit";
    } else {
      input.kind = MovementKind::kCount;
      input.quantity = Uniform(1, 5000);
    }

    Emit(std::string(kBeginTag) + " " + std::string(kMovementTag));
    auto movement = store_->RecordMovement(input);
    if (!movement.ok()) Fail("record movement", movement.status());
    Emit(std::string(kMovementTag) + " " + movement->id);
  }

  Store* store_;
  std::mt19937_64 rng_;
  int64_t generation_;
  int64_t counter_ = 0;
  std::vector<std::string> beneficiaries_;
  std::vector<std::string> voidable_;  // handovers this run recorded and has not voided
};

int Create(const char* path) {
  core::TabletSetup setup;
  setup.post_code = std::string(kPostCode);
  setup.device_name = std::string(kDeviceName);
  setup.programme_key = std::string(kProgrammeKey);
  auto store = Store::Create(path, setup);
  if (!store.ok()) Fail("create", store.status());
  Emit(std::string(kCreatedLine));
  return kWriterDone;
}

int Run(int argc, char** argv) {
  if (argc == 3 && std::string_view(argv[1]) == "--create") return Create(argv[2]);
  uint64_t seed = 0;
  int64_t generation = 0;
  int64_t clock_behind_ms = 0;
  if (argc != 5 || !ParseInt(argv[2], &seed) || !ParseInt(argv[3], &generation) ||
      !ParseInt(argv[4], &clock_behind_ms)) {
    std::fprintf(stderr,
                 "usage: crash_writer DB_PATH SEED GENERATION CLOCK_BEHIND_MS\n"
                 "       crash_writer --create DB_PATH\n");
    return kWriterUsage;
  }

  core::StoreOptions options;
  options.clock = [clock_behind_ms] {
    auto now = std::chrono::system_clock::now().time_since_epoch();
    return std::chrono::duration_cast<std::chrono::milliseconds>(now).count() - clock_behind_ms;
  };
  auto store = Store::Open(argv[1], options);
  if (!store.ok()) Fail("open", store.status());

  Writer writer(store->get(), seed, generation);
  writer.LoadSeededBeneficiaries();
  for (int i = 0; i < kWriterMaxWrites; ++i) writer.WriteOne();
  return kWriterDone;
}

}  // namespace
}  // namespace kitsync::crash

int main(int argc, char** argv) { return kitsync::crash::Run(argc, argv); }
