// Canonical encodings of master-data records for the server's feed, in the style of
// core/canonical.h (compact JSON, sorted keys): the feed keeps each version as it was sent, and
// comparing encodings tells a changed record from a repeated one.
#pragma once

#include <string>
#include <vector>

#include "kitsync/core/canonical.h"
#include "kitsync/core/domain.h"
#include "kitsync/core/status.h"

namespace kitsync::sync {

std::string EncodeKitType(const core::KitType& k);
std::string EncodePost(const core::Post& p);
std::string EncodeOfficer(const core::Officer& o);
// Entitlements are sorted by kit type ID, so the order an admin listed them in does not matter.
std::string EncodeRound(const core::Round& r);

// Any record the feed holds: facts through core::ToLoggedForm, master data here.
core::Result<core::LoggedForm> FeedForm(const core::Record& record);
core::Result<core::Record> DecodeFeed(const std::string& entity, const std::string& payload);

// The served summaries one transaction sends about one post, as one feed entry
// (kServedSummariesEntity, its entity ID the number of summaries): a push batch changes the
// totals of hundreds of families, and a feed row with its index entry for each cost more than
// writing the handover itself. The round and kit type, shared by most of a batch's families,
// are written once per group: {"groups":[{"kit_type":K,"round":R,"totals":[[doc_hash,qty],..]}],
// "post":P}. REQUIRES every summary to name the same post.
inline constexpr char kServedSummariesEntity[] = "served_summaries";
std::string EncodeServedSummaries(const std::vector<core::ServedSummary>& summaries);
core::Result<std::vector<core::ServedSummary>> DecodeServedSummaries(const std::string& payload);

}  // namespace kitsync::sync
