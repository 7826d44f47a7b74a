// Reading a handover back from a row of the tablet's `handovers` table or the server's: both
// hold the record's fields in the same order, and differ in how they keep the overridden
// warnings (which each reads itself).
#pragma once

#include "kitsync/core/domain.h"
#include "kitsync/core/sqlite.h"

namespace kitsync::core {

// Every field but the overridden warnings, from 16 columns starting at `first`: id, round_id,
// beneficiary_id, kit_type_id, quantity, post_id, officer_id, device_id, hlc, wall_ms,
// proof_kind, proof_ref, collected_by, proxy_relation, consent, override_reason. Only values
// validated when recorded are ever stored, so a proof kind or collector that does not parse
// (a damaged file) reads as none and self.
Handover ReadHandoverFields(const sqlite::Statement& row, int first);
// The same, written over `h`: each of those fields is overwritten, and its text takes the
// storage `h` already has. A reader that fills the same records batch after batch allocates
// their strings once.
void ReadHandoverFieldsInto(const sqlite::Statement& row, int first, Handover& h);

// Binds those 16 fields, in that order, to the parameters 1 to 16 of an insert into either
// table; the caller binds the rest. The text is bound without a copy (BindView): `h` must
// outlive the statement's step.
sqlite::Statement& BindHandoverFields(sqlite::Statement& stmt, const Handover& h);

}  // namespace kitsync::core
