// The records of a relief-kit distribution. IDs are UUIDv7 strings made on the device, so no
// central allocator is needed and keys stay time-ordered in SQLite's B-trees. Codes (kit type,
// post, round) are short human identifiers an officer types; IDs are what records reference.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "kitsync/core/hlc.h"

namespace kitsync::core {

// Limits that keep one record sane. A tired officer's typo of 1000 instead of 1 is refused.
inline constexpr int64_t kMaxQuantity = 10'000;
inline constexpr int64_t kMaxCount = kMaxQuantity * 100;  // a physical count of a whole store
inline constexpr int64_t kMaxHouseholdSize = 50;
inline constexpr size_t kMaxCodeLength = 32;
inline constexpr size_t kMaxNameLength = 200;
inline constexpr size_t kMaxReasonLength = 500;
inline constexpr size_t kMaxReferenceLength = 128;

struct KitType {
  std::string id;
  std::string code;  // "HYG-KIT"
  std::string name;  // "Hygiene kit"
  std::string unit;  // "kit", "set"
};

struct Post {
  std::string id;
  std::string code;  // "ENT"
  std::string name;  // "Entikong"
};

enum class OfficerRole { kOfficer, kSupervisor, kAdmin };

struct Officer {
  std::string id;
  std::string code;  // badge number, e.g. "ENT-OF-01"
  std::string name;
  std::string post_id;
  OfficerRole role = OfficerRole::kOfficer;
};

// How much of one kit type one beneficiary may receive within a round.
struct Entitlement {
  std::string kit_type_id;
  int64_t max_per_beneficiary = 1;
};

struct Round {
  std::string id;
  std::string code;  // "HYG-2026-11"
  std::string name;
  bool requires_proof = true;  // every handover must carry a proof of receipt
  std::vector<Entitlement> entitlements;
};

// Everything a tablet receives from the centre rather than creating itself.
struct MasterData {
  std::vector<KitType> kit_types;
  std::vector<Post> posts;
  std::vector<Officer> officers;
  std::vector<Round> rounds;
};

struct Beneficiary {
  std::string id;
  std::string doc_hash;  // hex HMAC-SHA256 of the identity document number
  std::string full_name;
  std::string phone;  // optional, may be empty
  int64_t household_size = 1;
  std::string post_id;    // where registered
  std::string device_id;  // which tablet registered it
  Hlc hlc;                // when registered
};

// A correction of a beneficiary's details, made at a post or by the centre. Only the fields set
// change. Every replica keeps, per field, the value of the latest correction by (HLC, device),
// so replicas agree whatever order corrections arrive in; two corrections that did not see each
// other are a conflict for an admin (core/conflicts.h).
struct BeneficiaryUpdate {
  std::string id;  // of the correction itself
  std::string beneficiary_id;
  std::optional<std::string> full_name;
  std::optional<std::string> phone;
  std::optional<int64_t> household_size;
  Hlc base_hlc;            // the newest version of the record the editor saw
  std::string post_id;     // the beneficiary's post: whose tablets hold it
  std::string officer_id;  // who corrected it
  std::string device_id;
  Hlc hlc;
  int64_t wall_ms = 0;
};

// How much of one kit type one post handed out to one family in one round, as the server last
// counted it (handovers not voided). The server sends these to every tablet so that an officer
// is warned before a second kit goes to a family already served at another post. Only the
// keyed document hash identifies the family: no name, no beneficiary ID.
struct ServedSummary {
  std::string doc_hash;
  std::string round_id;
  std::string kit_type_id;
  std::string post_id;
  int64_t quantity = 0;  // 0 once every such handover was voided
};

// An admin's decision on a conflict, sent to the tablets of every post it concerns so that
// officers see what the office decided (a justified extra kit, two registrations kept), not only
// the facts a decision may have written.
struct ConflictResolution {
  std::string conflict_id;
  std::string kind;    // "entitlement-exceeded", ...
  std::string action;  // "justify", "void", "keep-both", "merge", "receipt", "adjustment",
                       // "pick", "set", "confirm", "restore"
  std::vector<std::string> subject_ids;  // the handovers, beneficiaries or corrections it covered
  std::string note;
  std::string decided_by;
  std::string post_id;  // the post whose tablets receive this copy
  Hlc hlc;
  int64_t wall_ms = 0;
};

// The central office's decision that two registrations are one family: `retired_id` is merged
// into `kept_id`. Handovers are never rewritten; whatever asks whose a handover is resolves its
// beneficiary through the merge that stands. A retired beneficiary may be merged again (when the
// family it was kept for is itself merged), so every replica keeps, per retired beneficiary, the
// merge with the greatest (HLC, ID): the same one whatever order merges arrive in. The server
// writes merges so that the ones standing never chain (a kept beneficiary is never retired).
struct BeneficiaryMerge {
  std::string id;  // of the merge itself
  std::string retired_id;
  std::string kept_id;
  Hlc base_hlc;  // the newest version of the retired record the office had seen
  std::string conflict_id;  // the duplicate-beneficiary conflict it resolved
  std::string decided_by;   // who decided, as they sign the audit log
  std::string device_id;    // the server's device
  Hlc hlc;                  // after base_hlc, so the merge orders after what it saw
  int64_t wall_ms = 0;
};

enum class ProofKind { kNone, kSignature, kPhoto, kVoucher };
enum class Collector { kSelf, kProxy };

// An append-only fact: who received what, where, from whom and when.
struct Handover {
  std::string id;
  std::string round_id;
  std::string beneficiary_id;
  std::string kit_type_id;
  int64_t quantity = 0;
  std::string post_id;
  std::string officer_id;
  std::string device_id;
  Hlc hlc;
  int64_t wall_ms = 0;  // the tablet's wall clock when recorded, for people, not ordering
  ProofKind proof_kind = ProofKind::kNone;
  std::string proof_ref;  // signature/photo digest or voucher code
  Collector collected_by = Collector::kSelf;
  std::string proxy_relation;  // set when collected_by == kProxy
  bool consent = false;
  std::string override_reason;  // why the officer went past a warning; empty if none
  std::vector<std::string> overridden_warnings;  // warning codes the reason covers
};

// Voiding is its own fact; the voided handover is never rewritten.
struct HandoverVoid {
  std::string handover_id;
  std::string reason;
  std::string officer_id;
  std::string device_id;
  Hlc hlc;
  int64_t wall_ms = 0;
};

enum class MovementKind {
  kReceipt,      // shipment arrived at the post (+)
  kTransferOut,  // sent to another post (-)
  kTransferIn,   // arrived from another post (+)
  kAdjustment,   // damaged, lost, found (signed delta)
  kCount,        // physical count; changes nothing, is compared with the balance
};

struct StockMovement {
  std::string id;
  std::string post_id;
  std::string kit_type_id;
  MovementKind kind = MovementKind::kReceipt;
  // Positive for receipts, transfers and counts; a signed delta for adjustments.
  int64_t quantity = 0;
  std::string counterpart_post_id;  // for transfers
  std::string reference;            // waybill or shipment number
  std::string reason;               // required for adjustments
  std::string officer_id;
  std::string device_id;
  Hlc hlc;
  int64_t wall_ms = 0;
};

// Any record that moves between a tablet and the server: facts made at posts and by the centre
// (beneficiaries, handovers, voids, movements, corrections, merges), master data (kit types,
// posts, officers, rounds), and what the server makes (served summaries, conflict resolutions).
using Record = std::variant<Beneficiary, Handover, HandoverVoid, StockMovement, KitType, Post,
                            Officer, Round, BeneficiaryUpdate, ServedSummary,
                            ConflictResolution, BeneficiaryMerge>;

std::string_view ToString(OfficerRole role);
std::string_view ToString(ProofKind kind);
std::string_view ToString(Collector collector);
std::string_view ToString(MovementKind kind);
std::optional<OfficerRole> ParseOfficerRole(std::string_view s);
std::optional<ProofKind> ParseProofKind(std::string_view s);
std::optional<Collector> ParseCollector(std::string_view s);
std::optional<MovementKind> ParseMovementKind(std::string_view s);

}  // namespace kitsync::core
