// A canonical text dump of a SQLite database, to show that a refused command wrote nothing.
#pragma once

#include <string>

namespace kitsync::testing {

// Every schema object, then every row of every table (change log included), tables sorted by
// name and rows ordered by every column, each value tagged with its storage class. Two databases
// with the same content dump to the same text whatever their page layout. Throws if the file
// cannot be read as a database.
std::string CanonicalDump(const std::string& path);

}  // namespace kitsync::testing
