# The tablet's side of sync: transports, the sync session and its scheduler, enrolment.
add_library(kitsync_client
  src/client_backoff.cc
  src/client_channel.cc
  src/client_enroll.cc
  src/client_engine.cc
  src/client_failure.cc
  src/client_feed_epoch.cc
  src/client_grpc_transport.cc
  src/client_probe.cc
  src/client_session.cc
)
add_library(kitsync::client ALIAS kitsync_client)
target_include_directories(kitsync_client PUBLIC include)
target_link_libraries(kitsync_client
  PUBLIC kitsync::sync Boost::headers Threads::Threads
  PRIVATE spdlog::spdlog)
