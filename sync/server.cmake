# The central server's side of sync: the server store (SQLite), the transport-agnostic service
# logic, and the gRPC services over it.
add_library(kitsync_server
  src/server_schema.cc
  src/server_checkpointer.cc
  src/server_master_codec.cc
  src/server_store_sqlite.cc
  src/server_store_push.cc
  src/server_push_prehash.cc
  src/server_served_filter.cc
  src/server_store_conflicts.cc
  src/server_store_merges.cc
  src/server_store_requests.cc
  src/server_request_key.cc
  src/server_store_feed.cc
  src/server_store_epochs.cc
  src/server_copy.cc
  src/server_restore.cc
  src/server_store_central.cc
  src/server_store_reports.cc
  src/server_logic.cc
  src/server_feed_epoch.cc
  src/server_logic_conflicts.cc
  src/server_services.cc
  src/server_pull_reactor.cc
  src/server_push_reactor.cc
  src/server_grpc.cc
  src/server_reports.cc
  src/server_reports_service.cc
)
add_library(kitsync::server ALIAS kitsync_server)
target_include_directories(kitsync_server PUBLIC include PRIVATE src)
# The store's header from the core (kitsync/core/sqlite.h) includes <sqlite3.h>.
target_link_libraries(kitsync_server
  PUBLIC kitsync::sync SQLite::SQLite3
  PRIVATE OpenSSL::Crypto nlohmann_json::nlohmann_json spdlog::spdlog)
