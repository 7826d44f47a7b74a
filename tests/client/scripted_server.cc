#include "scripted_server.h"

#include <deque>
#include <thread>

#include "kitsync/sync/server_auth.h"
#include "kitsync/sync/wire.h"
#include "kitsync/sync/wire_zstd.h"

namespace kitsync::testing {

void ScriptedSync::Observe(grpc::ServerContext* context) {
  std::lock_guard lock(mu_);
  const auto& metadata = context->client_metadata();
  if (auto it = metadata.find("authorization"); it != metadata.end()) {
    authorization_ = std::string(it->second.data(), it->second.size());
  }
}

std::string ScriptedSync::Authorization() const {
  std::lock_guard lock(mu_);
  return authorization_;
}

grpc::Status ScriptedSync::Push(grpc::ServerContext* context,
                                grpc::ServerReaderWriter<v1::PushAck, v1::PushBatch>* stream) {
  Observe(context);
  ++push_streams_;
  std::deque<uint64_t> unacked;  // last sequence of each batch not yet acknowledged
  auto ack_front = [&] {
    std::this_thread::sleep_for(ack_delay);
    v1::PushAck ack;
    ack.set_acked_seq(unacked.front());
    ack.set_applied(1);
    unacked.pop_front();
    return stream->Write(ack);
  };
  v1::PushBatch batch;
  while (stream->Read(&batch)) {
    ++batches_read_;
    if (!push_error.ok()) return push_error;
    if (!batch.records_zstd().empty()) {
      ++zstd_batches_read_;
      if (!reads_zstd) return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "no zstd here");
      const core::Status unpacked = sync::UnpackRecords(batch);
      if (!unpacked.ok()) return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, unpacked.message());
    }
    unacked.push_back(batch.first_seq() + batch.records().changes_size() - 1);
    if (unacked.size() > max_unacked_) max_unacked_ = unacked.size();
    if (unacked.size() >= ack_lag && !ack_front()) return grpc::Status::CANCELLED;
  }
  while (!unacked.empty()) {
    if (!ack_front()) return grpc::Status::CANCELLED;
  }
  return grpc::Status::OK;
}

grpc::Status ScriptedSync::Pull(grpc::ServerContext* context, const v1::PullRequest* request,
                                grpc::ServerWriter<v1::PullBatch>* writer) {
  Observe(context);
  const bool zstd = reads_zstd && sync::ReadWireFeatures(request->wire_features()).zstd_records;
  for (int i = 1; i <= pull_batches; ++i) {
    if (context->IsCancelled()) return grpc::Status::CANCELLED;
    v1::PullBatch batch;
    batch.set_cursor(request->cursor() + static_cast<uint64_t>(i));
    batch.set_remaining(static_cast<uint64_t>(pull_batches - i));
    if (zstd) {
      batch.mutable_records()->add_changes()->set_hlc_delta(i);
      sync::PackRecords(batch);
      if (i == damaged_pull_batch) batch.mutable_records_zstd()->pop_back();
    }
    if (!writer->Write(batch)) return grpc::Status::CANCELLED;
    ++pull_written_;
    std::this_thread::sleep_for(pull_gap);
  }
  return grpc::Status::OK;
}

grpc::Status ScriptedSync::GetStatus(grpc::ServerContext* context, const v1::StatusRequest*,
                                     v1::StatusResponse* response) {
  Observe(context);
  std::this_thread::sleep_for(status_delay);
  response->set_acked_seq(7);
  response->set_feed_head(42);
  if (reads_zstd) response->add_wire_features(sync::kZstdRecordsFeature);
  return grpc::Status::OK;
}

grpc::Status ScriptedEnrollment::Enroll(grpc::ServerContext*, const v1::EnrollRequest* request,
                                        v1::EnrollResponse* response) {
  {
    std::lock_guard lock(mu_);
    offered_tokens_.push_back(request->device_token());
  }
  // As the real server reads a code: however it was typed.
  if (sync::NormalizeEnrolmentCode(request->code()) != sync::NormalizeEnrolmentCode(good_code)) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "unknown, used or expired code");
  }
  *response = answer;
  return grpc::Status::OK;
}

std::vector<std::string> ScriptedEnrollment::OfferedTokens() const {
  std::lock_guard lock(mu_);
  return offered_tokens_;
}

ScriptedServer::ScriptedServer(const std::string& cert_pem, const std::string& key_pem,
                               bool accept_gzip, int port) {
  std::shared_ptr<grpc::ServerCredentials> credentials = grpc::InsecureServerCredentials();
  if (!cert_pem.empty()) {
    grpc::SslServerCredentialsOptions ssl;
    ssl.pem_key_cert_pairs.push_back({key_pem, cert_pem});
    credentials = grpc::SslServerCredentials(ssl);
  }
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:" + std::to_string(port), credentials, &port_);
  builder.RegisterService(&sync);
  builder.RegisterService(&enrollment);
  builder.SetCompressionAlgorithmSupportStatus(GRPC_COMPRESS_GZIP, accept_gzip);
  server_ = builder.BuildAndStart();
}

ScriptedServer::~ScriptedServer() {
  if (server_) server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
}

}  // namespace kitsync::testing
